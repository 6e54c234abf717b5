package dev.keyhold.kms.key;

import java.util.Map;

/** ReEncrypt's input: the blob and its context (and optionally its key), the destination key and context. */
public record ReEncryptRequest(byte[] ciphertextBlob, Map<String, String> sourceEncryptionContext,
    String sourceKeyId, String destinationKeyId, Map<String, String> destinationEncryptionContext) {}
