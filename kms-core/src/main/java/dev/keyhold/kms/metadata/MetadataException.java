package dev.keyhold.kms.metadata;

/** The metadata database failed; nothing of the failed transaction was kept. */
public final class MetadataException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public MetadataException(String message, Throwable cause) {
    super(message, cause);
  }
}
