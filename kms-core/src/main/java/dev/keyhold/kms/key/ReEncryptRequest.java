package dev.keyhold.kms.key;

import java.util.Map;

/**
 * ReEncrypt's input: the blob and its context (and optionally its key and algorithm), the destination
 * key, context and algorithm.
 */
public record ReEncryptRequest(byte[] ciphertextBlob, Map<String, String> sourceEncryptionContext,
    String sourceKeyId, String destinationKeyId, Map<String, String> destinationEncryptionContext,
    String sourceEncryptionAlgorithm, String destinationEncryptionAlgorithm) {

  /** With the algorithms left to their default, SYMMETRIC_DEFAULT. */
  public ReEncryptRequest(byte[] ciphertextBlob, Map<String, String> sourceEncryptionContext, String sourceKeyId,
      String destinationKeyId, Map<String, String> destinationEncryptionContext) {
    this(ciphertextBlob, sourceEncryptionContext, sourceKeyId, destinationKeyId, destinationEncryptionContext,
        null, null);
  }
}
