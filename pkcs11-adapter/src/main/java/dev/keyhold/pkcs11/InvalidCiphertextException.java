package dev.keyhold.pkcs11;

/** Decryption failed authentication: the ciphertext, IV, tag or AAD is not the one that was encrypted. */
public final class InvalidCiphertextException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  InvalidCiphertextException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
