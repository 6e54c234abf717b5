package dev.keyhold.pkcs11;

/** The token refused the PIN or password (wrong, malformed, or not yet set). */
public final class BadCredentialsException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  BadCredentialsException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
