package dev.keyhold.pkcs11;

/** The token locked the PIN after too many failed logins, or the PIN expired. */
public final class PinLockedException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  PinLockedException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
