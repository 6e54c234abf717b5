package dev.keyhold.kms.key;

/** ReEncrypt's output: the new blob, and the source and destination keys' ARNs. */
public record ReEncryptResponse(byte[] ciphertextBlob, String sourceKeyId, String keyId) {}
