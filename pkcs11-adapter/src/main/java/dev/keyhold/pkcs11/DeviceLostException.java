package dev.keyhold.pkcs11;

/** The token stopped answering (removed, crashed, logged out or unreachable); the next call reconnects. */
public final class DeviceLostException extends Pkcs11Exception {
  private static final long serialVersionUID = 1L;

  DeviceLostException(String message, String returnValue, Throwable cause) {
    super(message, returnValue, cause);
  }
}
