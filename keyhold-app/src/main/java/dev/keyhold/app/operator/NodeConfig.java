package dev.keyhold.app.operator;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.google.common.primitives.Doubles;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.quota.QuotaConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;

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
 * @param quotas this node's request quotas (optional: without it, none)
 * @param hsmCallDeadlineMillis how long one PKCS#11 call may take before it is abandoned and the work
 *     goes to another HSM (optional: {@link SessionPoolConfig#DEFAULT_CALL_DEADLINE})
 */
public record NodeConfig(
    String node,
    Listen listen,
    AccountConfig account,
    Path clusters,
    Metadata metadata,
    Path masterKey,
    Path auditLog,
    String defaultKeyStore,
    Quotas quotas,
    Integer hsmCallDeadlineMillis) {

  /** The session pools of this node's HSMs, with its call deadline. */
  public SessionPoolConfig sessions() {
    SessionPoolConfig defaults = SessionPoolConfig.defaults();
    return hsmCallDeadlineMillis == null ? defaults
        : defaults.withCallDeadline(Duration.ofMillis(hsmCallDeadlineMillis));
  }

  /** Where the node serves; {@code tls} and {@code maxConnections} (open at once) are optional. */
  public record Listen(String host, Integer port, Tls tls, Integer maxConnections) {}

  /**
   * Request quotas, per node: the section turns on AWS's ({@link QuotaConfig#aws()}), and each member
   * given replaces one of them. A rate is requests per second: a positive number, or {@code unlimited}.
   *
   * @param operations rates by operation name ({@code CreateKey: 10}); not the cryptographic ones,
   *     which share {@code cryptographicPerAccount}
   */
  public record Quotas(String cryptographicPerAccount, String perKeyStore, Map<String, String> operations,
      String perCredential) {
    /** A rate as the file writes it, if it is one. */
    static OptionalDouble rate(String rate) {
      if ("unlimited".equals(rate)) {
        return OptionalDouble.of(QuotaConfig.UNLIMITED);
      }
      Double value = Doubles.tryParse(rate);
      return value != null && value > 0 && !value.isInfinite() ? OptionalDouble.of(value) : OptionalDouble.empty();
    }

    /** The quotas, once {@link ConfigFile} found every rate and operation good. */
    public QuotaConfig toQuotaConfig() {
      QuotaConfig quotas = QuotaConfig.aws();
      if (cryptographicPerAccount != null) {
        quotas = quotas.withCryptographicPerAccount(rate(cryptographicPerAccount).orElseThrow());
      }
      if (perKeyStore != null) {
        quotas = quotas.withPerKeyStore(rate(perKeyStore).orElseThrow());
      }
      if (perCredential != null) {
        quotas = quotas.withPerCredential(rate(perCredential).orElseThrow());
      }
      for (Map.Entry<String, String> operation : operations().entrySet()) {
        quotas = quotas.withOperation(KmsOperation.named(operation.getKey()).orElseThrow(),
            rate(operation.getValue()).orElseThrow());
      }
      return quotas;
    }

    @Override
    public Map<String, String> operations() {
      return operations == null ? Map.of() : operations;
    }
  }

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
