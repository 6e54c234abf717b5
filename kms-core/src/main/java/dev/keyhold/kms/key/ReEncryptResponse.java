package dev.keyhold.kms.key;

/**
 * ReEncrypt's output: the new blob, the source and destination keys' ARNs, and the algorithm each
 * used. AWS's SourceKeyMaterialId and DestinationKeyMaterialId are left out: a Keyhold key has one
 * key material, never rotated, so there is no version to name.
 */
public record ReEncryptResponse(byte[] ciphertextBlob, String sourceKeyId, String keyId,
    String sourceEncryptionAlgorithm, String destinationEncryptionAlgorithm) {}
