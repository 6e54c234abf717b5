package dev.keyhold.cluster;

import java.nio.file.Path;

/**
 * The clusters file cannot be used as it stands: malformed JSON, a missing or unknown field, an
 * invalid id or value, a duplicate, or a trust anchor certificate that cannot be read. The message
 * names the file and the offending entry, e.g. {@code clusters[1] (cluster-abcdefghijk): hsms[0]}.
 */
public final class InvalidClusterFileException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  private final transient Path file;

  InvalidClusterFileException(Path file, String detail, Throwable cause) {
    super(file + ": " + detail, cause);
    this.file = file;
  }

  /** The clusters file at fault (not a certificate file it names). */
  public Path file() {
    return file;
  }
}
