package dev.keyhold.pkcs11;

/** The token or its profile does not offer this function, mechanism or attribute. */
public final class UnsupportedByTokenException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  UnsupportedByTokenException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
