package dev.keyhold.app.operator;

import dev.keyhold.cluster.ClusterFileWatcher;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.KeyholdServer;
import dev.keyhold.server.ServerTls;
import dev.keyhold.server.auth.MetadataCredentials;
import dev.keyhold.server.auth.SigV4Authenticator;
import dev.keyhold.server.ops.AuditLog;
import dev.keyhold.server.quota.QuotaConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;

/**
 * One node in operator mode ({@code bin/keyhold --config FILE}): a {@link Keyhold} over the
 * configured clusters (the file re-read when it changes), metadata store and master key, served with
 * the credentials of the metadata store, every request in the configured audit log.
 */
public final class OperatorNode implements AutoCloseable {
  private static final Duration REPLICATION_INTERVAL = Duration.ofSeconds(5);
  private static final Duration DELETION_INTERVAL = Duration.ofMinutes(1);
  private static final Duration LEASE_TERM = Duration.ofSeconds(30);

  private static final Duration CLUSTERS_FILE_CHECKED_EVERY = Duration.ofSeconds(1);

  private final ClusterFileWatcher clusters;
  private final JdbcMetadataStore metadata;
  private final Keyhold keyhold;
  private final AuditLog audit;
  private final KeyholdServer server;

  private OperatorNode(ClusterFileWatcher clusters, JdbcMetadataStore metadata, Keyhold keyhold, AuditLog audit,
      KeyholdServer server) {
    this.clusters = clusters;
    this.metadata = metadata;
    this.keyhold = keyhold;
    this.audit = audit;
    this.server = server;
  }

  /** Starts the node {@code config} describes (as {@link ConfigFile} read it, without problems). */
  public static OperatorNode start(NodeConfig config) throws IOException, GeneralSecurityException {
    return start(config, Checkpoints.NONE);
  }

  /** Starts the node {@code config} describes, telling {@code checkpoints} its durable steps (for crash tests). */
  public static OperatorNode start(NodeConfig config, Checkpoints checkpoints)
      throws IOException, GeneralSecurityException {
    MasterKey masterKey = MasterKey.load(config.masterKey());
    ClusterFileWatcher clusters = ClusterFileWatcher.watch(config.clusters(), CLUSTERS_FILE_CHECKED_EVERY);
    JdbcMetadataStore metadata;
    try {
      metadata = openMetadata(config.metadata());
    } catch (RuntimeException e) {
      clusters.close();
      throw e;
    }
    Keyhold keyhold = null;
    AuditLog audit = null;
    try {
      Account account = new Account(config.account().id(), config.account().region());
      Keyhold.Options options = Keyhold.Options.of(account).withNode(new ServiceNode(config.node(), LEASE_TERM))
          .withCheckpoints(checkpoints).withSessions(config.sessions());
      keyhold = Keyhold.open(metadata, clusters, masterKey,
          config.defaultKeyStoreName().map(options::withDefaultKeyStore).orElse(options));
      keyhold.startBackgroundWork(REPLICATION_INTERVAL, DELETION_INTERVAL);
      audit = AuditLog.toFile(config.auditLog(), masterKey);
      MetadataCredentials credentials = new MetadataCredentials(metadata, masterKey, Clock.systemUTC());
      KeyholdServer.Builder builder = KeyholdServer.builder(keyhold,
              new SigV4Authenticator(credentials, account.region(), Clock.systemUTC()))
          .host(config.listen().host()).port(config.listen().port()).observer(audit)
          .quotas(config.quotas() == null ? QuotaConfig.unlimited() : config.quotas().toQuotaConfig());
      if (config.listen().maxConnections() != null) {
        builder.maxConnections(config.listen().maxConnections());
      }
      if (config.listen().tls() != null) {
        builder.tls(tlsOf(config.listen().tls()));
      }
      return new OperatorNode(clusters, metadata, keyhold, audit, builder.start());
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      if (audit != null) {
        audit.close();
      }
      if (keyhold != null) {
        keyhold.close();
      }
      metadata.close();
      clusters.close();
      throw e;
    }
  }

  /** The configured metadata store: the embedded H2 store in a directory, or a database server. */
  public static JdbcMetadataStore openMetadata(NodeConfig.Metadata metadata) {
    return metadata.h2() != null
        ? JdbcMetadataStore.embedded(metadata.h2())
        : JdbcMetadataStore.open(metadata.jdbc().url(), metadata.jdbc().user(), metadata.jdbc().password().reveal());
  }

  static ServerTls tlsOf(NodeConfig.Tls tls) throws IOException, GeneralSecurityException {
    if (tls.pkcs12() != null) {
      char[] password = tls.password() == null ? new char[0] : tls.password().reveal().toCharArray();
      return ServerTls.fromPkcs12(tls.pkcs12(), password);
    }
    return ServerTls.fromPem(tls.certificate(), tls.privateKey());
  }

  public Keyhold keyhold() {
    return keyhold;
  }

  public KeyholdServer server() {
    return server;
  }

  /** Stops serving (requests in flight finish first), then the background work, the audit log and the store. */
  @Override
  public void close() {
    try (ClusterFileWatcher file = clusters; JdbcMetadataStore store = metadata; Keyhold kms = keyhold;
        AuditLog log = audit) {
      server.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close the audit log", e);
    }
  }
}
