package dev.keyhold.kms.key;

import java.util.Map;

/** GenerateDataKey's (and GenerateDataKeyWithoutPlaintext's) input: exactly one of keySpec and numberOfBytes. */
public record GenerateDataKeyRequest(String keyId, Map<String, String> encryptionContext, String keySpec,
    Integer numberOfBytes) {}
