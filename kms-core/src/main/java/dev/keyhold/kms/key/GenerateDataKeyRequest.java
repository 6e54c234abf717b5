package dev.keyhold.kms.key;

import java.util.Map;

/**
 * GenerateDataKey's (and GenerateDataKeyWithoutPlaintext's) input: exactly one of keySpec and
 * numberOfBytes. With {@code dryRun}, only checked (DryRunOperationException).
 */
public record GenerateDataKeyRequest(String keyId, Map<String, String> encryptionContext, String keySpec,
    Integer numberOfBytes, Boolean dryRun) {

  /** A request to run, not a dry run. */
  public GenerateDataKeyRequest(String keyId, Map<String, String> encryptionContext, String keySpec,
      Integer numberOfBytes) {
    this(keyId, encryptionContext, keySpec, numberOfBytes, null);
  }
}
