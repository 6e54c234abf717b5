package dev.keyhold.kms.key;

import java.util.Map;

/** Decrypt's input; {@code keyId} may be null, the blob names its key. */
public record DecryptRequest(byte[] ciphertextBlob, Map<String, String> encryptionContext, String keyId,
    String encryptionAlgorithm) {}
