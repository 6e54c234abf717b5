package dev.keyhold.kms.key;

import java.util.List;
import java.util.Map;

/**
 * ReEncrypt's input: the blob and its context (and optionally its key and algorithm), the destination
 * key, context and algorithm. With {@code dryRun}, only checked (DryRunOperationException);
 * {@code dryRunModifiers} {@code IGNORE_CIPHERTEXT} then takes the source key from {@code sourceKeyId}
 * and leaves the blob out.
 */
public record ReEncryptRequest(byte[] ciphertextBlob, Map<String, String> sourceEncryptionContext,
    String sourceKeyId, String destinationKeyId, Map<String, String> destinationEncryptionContext,
    String sourceEncryptionAlgorithm, String destinationEncryptionAlgorithm, Boolean dryRun,
    List<String> dryRunModifiers) {

  /** A request to run, with the algorithms left to their default, SYMMETRIC_DEFAULT. */
  public ReEncryptRequest(byte[] ciphertextBlob, Map<String, String> sourceEncryptionContext, String sourceKeyId,
      String destinationKeyId, Map<String, String> destinationEncryptionContext) {
    this(ciphertextBlob, sourceEncryptionContext, sourceKeyId, destinationKeyId, destinationEncryptionContext,
        null, null, null, null);
  }
}
