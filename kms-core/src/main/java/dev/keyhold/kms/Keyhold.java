package dev.keyhold.kms;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.keystore.Checkpoints;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.kms.policy.KeyPolicyAuthorizer;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.SessionPoolConfig;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The composition root: one Keyhold assembled from its parts (a metadata store, the clusters, the
 * master key) and its {@link Options}. The embedded default, the server's tests, the benchmarks and
 * the operator mode all build through it; nothing else wires kms-core's services together.
 *
 * <p>It owns what it makes (the key store connections, their HSM logins, the background work) and
 * closes them; the parts it was given stay the caller's to close, after it.
 */
public final class Keyhold implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Keyhold.class);

  private final Account account;
  private final KeyStoreConnections connections;
  private final CustomKeyStores keyStores;
  private final KmsKeys keys;
  private final KmsCrypto crypto;
  private final KeyReplication replication;
  private final KeyPolicyAuthorizer authorizer = new KeyPolicyAuthorizer();
  private ScheduledExecutorService deletions; // guarded by this

  private Keyhold(MetadataStore metadata, ClusterRegistry clusters, MasterKey masterKey, Options options) {
    this.account = options.account();
    connections = new KeyStoreConnections(metadata, clusters, masterKey, options.sessions(), options.checkpoints());
    keyStores = new CustomKeyStores(metadata, clusters, masterKey, options.clock(), connections);
    keys = new KmsKeys(metadata, clusters, keyStores, connections, account, options.clock(),
        options.defaultKeyStoreName(), options.node(), options.checkpoints());
    crypto = new KmsCrypto(keys, keyStores, connections);
    replication = new KeyReplication(keys, keyStores, connections, metadata, options.clock());
  }

  /**
   * Assembles a Keyhold and resumes its key stores: those that were CONNECTED (or CONNECTING) when the
   * service last stopped connect again in the background.
   */
  public static Keyhold open(MetadataStore metadata, ClusterRegistry clusters, MasterKey masterKey, Options options) {
    Keyhold keyhold = new Keyhold(checkNotNull(metadata, "metadata"), checkNotNull(clusters, "clusters"),
        checkNotNull(masterKey, "masterKey"), checkNotNull(options, "options"));
    keyhold.keyStores.resume();
    return keyhold;
  }

  /**
   * How a Keyhold runs.
   *
   * @param defaultKeyStoreName the key store where CreateKey puts keys when the request names none
   * @param node this process as a node of the service (its CreateKey leases carry its name)
   * @param checkpoints told each durable step of a connect, a rotation and a CreateKey, for crash tests
   */
  public record Options(Account account, Clock clock, SessionPoolConfig sessions,
      Optional<String> defaultKeyStoreName, ServiceNode node, Checkpoints checkpoints) {
    public Options {
      checkNotNull(account, "account");
      checkNotNull(clock, "clock");
      checkNotNull(sessions, "sessions");
      checkNotNull(defaultKeyStoreName, "defaultKeyStoreName");
      checkNotNull(node, "node");
      checkNotNull(checkpoints, "checkpoints");
    }

    /** The system clock, default session pools, no default key store, the local node, no checkpoints. */
    public static Options of(Account account) {
      return new Options(account, Clock.systemUTC(), SessionPoolConfig.defaults(), Optional.empty(),
          ServiceNode.LOCAL, Checkpoints.NONE);
    }

    public Options withClock(Clock newClock) {
      return new Options(account, newClock, sessions, defaultKeyStoreName, node, checkpoints);
    }

    public Options withSessions(SessionPoolConfig newSessions) {
      return new Options(account, clock, newSessions, defaultKeyStoreName, node, checkpoints);
    }

    public Options withDefaultKeyStore(String name) {
      return new Options(account, clock, sessions, Optional.of(name), node, checkpoints);
    }

    public Options withNode(ServiceNode newNode) {
      return new Options(account, clock, sessions, defaultKeyStoreName, newNode, checkpoints);
    }

    public Options withCheckpoints(Checkpoints newCheckpoints) {
      return new Options(account, clock, sessions, defaultKeyStoreName, node, newCheckpoints);
    }
  }

  /**
   * Starts the background work: a replication pass every {@code replicationInterval}, and the deletion
   * of keys whose waiting period ended every {@code deletionInterval}; both stop at {@link #close()}.
   */
  public synchronized void startBackgroundWork(Duration replicationInterval, Duration deletionInterval) {
    replication.start(replicationInterval);
    if (deletions == null) {
      deletions = Executors.newSingleThreadScheduledExecutor(
          new ThreadFactoryBuilder().setNameFormat("keyhold-deletions").setDaemon(true).build());
      // The future is not needed: deleteDueKeys logs its own failures, and close() stops the scheduler.
      Future<?> unused =
          deletions.scheduleWithFixedDelay(this::deleteDueKeys, 0, deletionInterval.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  private void deleteDueKeys() {
    try {
      keys.deletions().deleteDueKeys().forEach(arn -> LOG.info("deleted {} at the end of its waiting period", arn));
    } catch (RuntimeException e) {
      LOG.warn("deleting due keys failed; the next run tries again", e);
    }
  }

  public Account account() {
    return account;
  }

  public CustomKeyStores keyStores() {
    return keyStores;
  }

  /** The HSM logins of the connected key stores. */
  public KeyStoreConnections connections() {
    return connections;
  }

  public KmsKeys keys() {
    return keys;
  }

  public KmsCrypto crypto() {
    return crypto;
  }

  public KeyReplication replication() {
    return replication;
  }

  /** Decides requests on keys against the keys' policies. */
  public KeyPolicyAuthorizer authorizer() {
    return authorizer;
  }

  /** Stops the background work and logs out of every HSM. */
  @Override
  public synchronized void close() {
    if (deletions != null) {
      deletions.shutdownNow();
      deletions = null;
    }
    replication.close();
    keyStores.close();
  }
}
