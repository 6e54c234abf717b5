package dev.keyhold.kms.key;

/** Decrypt's output. Its {@code toString} never shows the plaintext. */
public record DecryptResponse(String keyId, byte[] plaintext, String encryptionAlgorithm) {
  @Override
  public String toString() {
    return "DecryptResponse[keyId=" + keyId + ", plaintext=(" + plaintext.length + " bytes)]";
  }
}
