package dev.keyhold.pkcs11;

/** The key or object is not on the token, or its cached handle went stale. */
public final class ObjectNotFoundException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  ObjectNotFoundException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
