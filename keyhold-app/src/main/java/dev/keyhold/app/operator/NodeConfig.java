package dev.keyhold.app.operator;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * One node of the service in operator mode, as its YAML file describes it ({@link ConfigFile}, which
 * checks that every required member is there). Every value may name environment variables
 * ({@code ${VAR}}), and every secret may come from a file ({@code {file: PATH}}), so that one file
 * serves every node.
 *
 * @param node this node's name: stable across its restarts, different from every other node's
 * @param clusters the clusters file, with its PKCS#11 libraries and profiles; re-read when it changes
 * @param masterKey the file of the master key that seals kmsuser passwords and credentials; every node
 *     of the service uses the same one
 * @param defaultKeyStore the name of the key store where CreateKey puts keys that name none (optional)
 */
public record NodeConfig(
    String node,
    Listen listen,
    AccountConfig account,
    Path clusters,
    Metadata metadata,
    Path masterKey,
    Path auditLog,
    String defaultKeyStore) {

  /** Where the node serves; {@code tls} is optional. */
  public record Listen(String host, Integer port, Tls tls) {}

  /** PEM files ({@code certificate} and {@code privateKey}), or a PKCS#12 store and its password. */
  public record Tls(Path certificate, Path privateKey, Path pkcs12, Secret password) {}

  public record AccountConfig(String id, String region) {}

  /** Exactly one of: the embedded H2 store in a directory, or a database server. */
  public record Metadata(Path h2, Jdbc jdbc) {}

  public record Jdbc(String url, String user, Secret password) {}

  public Optional<String> defaultKeyStoreName() {
    return Optional.ofNullable(defaultKeyStore);
  }

  /**
   * A secret, given in the file (best through {@code ${VAR}}) or read from a file of its own, whose
   * content, without a final line break, is the secret. {@link #toString()} never shows it.
   */
  public static final class Secret {
    private final String value;
    private final Path file;

    private Secret(String value, Path file) {
      this.value = value;
      this.file = file;
    }

    @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
    static Secret of(String value) {
      return new Secret(value, null);
    }

    @JsonCreator(mode = JsonCreator.Mode.PROPERTIES)
    static Secret fromFile(@JsonProperty(value = "file", required = true) Path file) {
      return new Secret(null, file);
    }

    /** The file it is read from, if it is. */
    public Optional<Path> file() {
      return Optional.ofNullable(file);
    }

    /** The secret itself, read from its file if it has one. */
    public String reveal() {
      if (file == null) {
        return value;
      }
      try {
        String content = Files.readString(file, StandardCharsets.UTF_8);
        return content.endsWith("\n") ? content.substring(0, content.length() - 1) : content;
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read the secret file " + file, e);
      }
    }

    @Override
    public String toString() {
      return file == null ? "Secret[given]" : "Secret[file " + file + "]";
    }
  }
}
