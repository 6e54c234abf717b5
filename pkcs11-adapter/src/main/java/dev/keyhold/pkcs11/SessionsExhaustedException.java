package dev.keyhold.pkcs11;

/** No session came free within the pool's timeout, or the token refused to open another. */
public final class SessionsExhaustedException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  SessionsExhaustedException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
