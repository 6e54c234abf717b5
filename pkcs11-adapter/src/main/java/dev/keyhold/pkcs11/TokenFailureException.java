package dev.keyhold.pkcs11;

/** Any other failure of the token; {@link #returnValue()} says which. */
public final class TokenFailureException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  TokenFailureException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
