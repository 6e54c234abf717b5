package dev.keyhold.kms.key;

import java.util.Map;

/** Encrypt's input; with {@code dryRun}, only checked (DryRunOperationException). */
public record EncryptRequest(String keyId, byte[] plaintext, Map<String, String> encryptionContext,
    String encryptionAlgorithm, Boolean dryRun) {

  /** A request to run, not a dry run. */
  public EncryptRequest(String keyId, byte[] plaintext, Map<String, String> encryptionContext,
      String encryptionAlgorithm) {
    this(keyId, plaintext, encryptionContext, encryptionAlgorithm, null);
  }

  @Override
  public String toString() {
    return "EncryptRequest[keyId=" + keyId + ", plaintext=(" + (plaintext == null ? 0 : plaintext.length)
        + " bytes), encryptionContext keys=" + (encryptionContext == null ? "[]" : encryptionContext.keySet())
        + ", dryRun=" + dryRun + "]";
  }
}
