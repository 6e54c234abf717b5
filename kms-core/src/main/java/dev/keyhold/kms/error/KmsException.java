package dev.keyhold.kms.error;

import static com.google.common.base.Preconditions.checkNotNull;

/**
 * An AWS KMS error: {@link #type()} is the wire {@code __type}, {@link #getMessage()} the
 * {@code message}. Messages never carry a password, a PIN or key material.
 */
public final class KmsException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final KmsErrorType type;

  public KmsException(KmsErrorType type, String message) {
    this(type, message, null);
  }

  public KmsException(KmsErrorType type, String message, Throwable cause) {
    super(checkNotNull(message, "message"), cause);
    this.type = checkNotNull(type, "type");
  }

  public KmsErrorType type() {
    return type;
  }

  /** The AWS error type, then the message: getMessage() is the wire message and must stay just that. */
  @Override
  @SuppressWarnings("OverrideThrowableToString")
  public String toString() {
    return type + ": " + getMessage();
  }
}
