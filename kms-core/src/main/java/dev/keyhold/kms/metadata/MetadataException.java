package dev.keyhold.kms.metadata;

/**
 * The metadata database failed; nothing of the failed transaction was kept. {@link #unreachable()}
 * tells a database that did not answer (a lost connection, an outage) from one that refused the work.
 */
public final class MetadataException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final boolean unreachable;

  public MetadataException(String message, Throwable cause) {
    this(message, cause, false);
  }

  public MetadataException(String message, Throwable cause, boolean unreachable) {
    super(message, cause);
    this.unreachable = unreachable;
  }

  /** Whether the database could not be reached: the same work may succeed once it is back. */
  public boolean unreachable() {
    return unreachable;
  }
}
