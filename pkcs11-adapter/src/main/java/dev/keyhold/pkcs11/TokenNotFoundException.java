package dev.keyhold.pkcs11;

/** No token with the wanted label is present in the module's slots. */
public final class TokenNotFoundException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  TokenNotFoundException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
