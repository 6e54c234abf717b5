package dev.keyhold.server;

import static com.google.common.base.Preconditions.checkNotNull;

/**
 * A request refused before it reached kms-core's operation: its envelope (target, content type, JSON)
 * or its signature is wrong, or it is over a quota. Answered 400 with
 * {@code {"__type": type, "message": message}}, as AWS does.
 */
public final class WireException extends RuntimeException {
  /** The error types of the protocol itself; each name is the exact {@code __type} AWS sends. */
  public enum Type {
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
    SerializationException,
    UnknownOperationException,
    /** Over a request quota ({@code dev.keyhold.server.quota}); the AWS SDKs retry it with backoff. */
    ThrottlingException
  }

  private final Type type;

  public WireException(Type type, String message) {
    super(checkNotNull(message, "message"), null, false, false);
    this.type = checkNotNull(type, "type");
  }

  public Type type() {
    return type;
  }
}
