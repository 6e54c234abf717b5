package dev.keyhold.kms.key;

import java.util.List;
import java.util.Map;

/**
 * Decrypt's input; {@code keyId} may be null, the blob names its key. With {@code dryRun}, only
 * checked (DryRunOperationException); {@code dryRunModifiers} {@code IGNORE_CIPHERTEXT} then takes
 * the key from {@code keyId} and leaves the blob out.
 */
public record DecryptRequest(byte[] ciphertextBlob, Map<String, String> encryptionContext, String keyId,
    String encryptionAlgorithm, Boolean dryRun, List<String> dryRunModifiers) {

  /** A request to run, not a dry run. */
  public DecryptRequest(byte[] ciphertextBlob, Map<String, String> encryptionContext, String keyId,
      String encryptionAlgorithm) {
    this(ciphertextBlob, encryptionContext, keyId, encryptionAlgorithm, null, null);
  }
}
