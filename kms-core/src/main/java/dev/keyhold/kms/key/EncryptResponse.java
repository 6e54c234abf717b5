package dev.keyhold.kms.key;

/** Encrypt's output: the blob, the key's ARN, the algorithm. */
public record EncryptResponse(byte[] ciphertextBlob, String keyId, String encryptionAlgorithm) {}
