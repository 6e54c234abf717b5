package dev.keyhold.kms.key;

import java.util.Optional;

/**
 * GenerateDataKey's output; {@code plaintext} is empty for GenerateDataKeyWithoutPlaintext. Its
 * {@code toString} never shows the data key.
 */
public record GenerateDataKeyResponse(byte[] ciphertextBlob, Optional<byte[]> plaintext, String keyId) {
  @Override
  public String toString() {
    return "GenerateDataKeyResponse[keyId=" + keyId + ", ciphertextBlob=(" + ciphertextBlob.length + " bytes)]";
  }
}
