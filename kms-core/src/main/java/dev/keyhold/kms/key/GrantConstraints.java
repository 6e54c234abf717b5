package dev.keyhold.kms.key;

import java.util.Map;

/**
 * A grant's constraints on the encryption context of the requests it allows: the context must equal
 * {@code encryptionContextEquals}, or hold every pair of {@code encryptionContextSubset}. A grant has
 * at most one of the two; an absent one is null.
 */
public record GrantConstraints(Map<String, String> encryptionContextSubset,
    Map<String, String> encryptionContextEquals) {

  public GrantConstraints {
    encryptionContextSubset = encryptionContextSubset == null ? null : Map.copyOf(encryptionContextSubset);
    encryptionContextEquals = encryptionContextEquals == null ? null : Map.copyOf(encryptionContextEquals);
  }

  /**
   * Whether {@code other} (null for none) allows no context that these do not: it has the same
   * EncryptionContextEquals, or, under an EncryptionContextSubset, every pair of it in its own.
   */
  boolean narrowedBy(GrantConstraints other) {
    if (other == null) {
      return false;
    }
    if (encryptionContextEquals != null) {
      return encryptionContextEquals.equals(other.encryptionContextEquals);
    }
    Map<String, String> required = other.encryptionContextEquals != null ? other.encryptionContextEquals
        : other.encryptionContextSubset;
    return encryptionContextSubset == null
        || required != null && required.entrySet().containsAll(encryptionContextSubset.entrySet());
  }

  /** Whether a request with {@code context} (empty if it has none) meets these constraints. */
  boolean allow(Map<String, String> context) {
    if (encryptionContextEquals != null && !encryptionContextEquals.equals(context)) {
      return false;
    }
    return encryptionContextSubset == null || context.entrySet().containsAll(encryptionContextSubset.entrySet());
  }
}
