package dev.keyhold.kms.key;

import java.util.Map;

/** Encrypt's input. */
public record EncryptRequest(String keyId, byte[] plaintext, Map<String, String> encryptionContext,
    String encryptionAlgorithm) {

  @Override
  public String toString() {
    return "EncryptRequest[keyId=" + keyId + ", plaintext=(" + (plaintext == null ? 0 : plaintext.length)
        + " bytes), encryptionContext keys=" + (encryptionContext == null ? "[]" : encryptionContext.keySet()) + "]";
  }
}
