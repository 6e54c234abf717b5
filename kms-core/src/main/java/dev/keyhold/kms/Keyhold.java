package dev.keyhold.kms;

import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.cluster.Clusters;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KeyGrants;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.HsmWorker;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.kms.policy.AccountPrincipal;
import dev.keyhold.kms.policy.Authorizer;
import dev.keyhold.kms.policy.IdentityPolicies;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.SessionPoolConfig;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The composition root: one Keyhold assembled from its parts (a metadata store, the clusters, the
 * master key) and its {@link Options}. The embedded default, the server's tests, the benchmarks and
 * the operator mode all build through it; nothing else wires kms-core's services together.
 *
 * <p>It owns what it makes (the key store connections, their HSM logins, the background work) and
 * closes them; the parts it was given stay the caller's to close, after it.
 *
 * <p>Several Keyholds (nodes) may share one database. The background work that changes things (the
 * connects that a dead node left unfinished, the reconciler's copies, the rollback of interrupted
 * CreateKeys, the deletion of due keys) then runs on
 * the one node that holds the {@value #BACKGROUND_ROLE} role ({@link MetadataStore#holdsRole}); the
 * others only probe their own HSM logins and report health. When the holder dies, the next node to
 * ask takes the role.
 */
public final class Keyhold implements AutoCloseable {
  /** The role of the node that runs the background work that changes things. */
  public static final String BACKGROUND_ROLE = "keyhold_background";
  private static final Logger LOG = LoggerFactory.getLogger(Keyhold.class);

  private final Account account;
  private final MetadataStore metadata;
  private final ServiceNode node;
  private final KeyStoreConnections connections;
  private final CustomKeyStores keyStores;
  private final KmsKeys keys;
  private final KmsCrypto crypto;
  private final KeyGrants grants;
  private final KeyReplication replication;
  private final IdentityPolicies identityPolicies;
  private final Authorizer authorizer;
  private HsmWorker background; // guarded by this
  /** Whether this node held the background role when it last asked. */
  private volatile boolean holdsBackgroundRole;

  private Keyhold(MetadataStore metadata, Clusters clusters, MasterKey masterKey, Options options) {
    this.account = options.account();
    this.metadata = metadata;
    this.node = options.node();
    connections = new KeyStoreConnections(metadata, clusters, masterKey, options.sessions(), options.checkpoints());
    keyStores = new CustomKeyStores(metadata, clusters, masterKey, options.clock(), connections);
    keys = new KmsKeys(metadata, clusters, keyStores, connections, account, options.clock(),
        options.defaultKeyStoreName(), options.node(), options.checkpoints());
    crypto = new KmsCrypto(keys, keyStores, connections);
    grants = new KeyGrants(metadata, keys, masterKey, account, options.clock());
    replication = new KeyReplication(keys, keyStores, connections, metadata, options.clock());
    identityPolicies = new IdentityPolicies(metadata);
    authorizer = new Authorizer(identityPolicies, options.accountPrincipal());
  }

  /**
   * Assembles a Keyhold, reads its keys into the key cache, and resumes its key stores: those that
   * were CONNECTED when the service last stopped are joined and their handle indexes filled before
   * this returns; those that cannot be joined, or were CONNECTING, connect again in the background.
   */
  public static Keyhold open(MetadataStore metadata, Clusters clusters, MasterKey masterKey, Options options) {
    Keyhold keyhold = new Keyhold(checkNotNull(metadata, "metadata"), checkNotNull(clusters, "clusters"),
        checkNotNull(masterKey, "masterKey"), checkNotNull(options, "options"));
    long start = System.nanoTime();
    int cached = keyhold.keys.resolver().preload();
    LOG.info("{} key(s) read into the key cache in {} ms", cached, (System.nanoTime() - start) / 1_000_000);
    keyhold.keyStores.resume();
    return keyhold;
  }

  /**
   * How a Keyhold runs.
   *
   * @param defaultKeyStoreName the key store where CreateKey puts keys when the request names none
   * @param node this process as a node of the service (its CreateKey leases carry its name)
   * @param checkpoints told each durable step of a connect, a rotation and a CreateKey, for crash tests
   * @param accountPrincipal what a key policy statement naming an account lets in
   */
  public record Options(Account account, Clock clock, SessionPoolConfig sessions,
      Optional<String> defaultKeyStoreName, ServiceNode node, Checkpoints checkpoints,
      AccountPrincipal accountPrincipal) {
    public Options {
      checkNotNull(account, "account");
      checkNotNull(clock, "clock");
      checkNotNull(sessions, "sessions");
      checkNotNull(defaultKeyStoreName, "defaultKeyStoreName");
      checkNotNull(node, "node");
      checkNotNull(checkpoints, "checkpoints");
      checkNotNull(accountPrincipal, "accountPrincipal");
    }

    /**
     * The system clock, default session pools, no default key store, the local node, no checkpoints,
     * and accounts that delegate to identity policies, as in AWS.
     */
    public static Options of(Account account) {
      return new Options(account, Clock.systemUTC(), SessionPoolConfig.defaults(), Optional.empty(),
          ServiceNode.LOCAL, Checkpoints.NONE, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES);
    }

    public Options withSessions(SessionPoolConfig newSessions) {
      return new Options(account, clock, newSessions, defaultKeyStoreName, node, checkpoints, accountPrincipal);
    }

    public Options withDefaultKeyStore(String name) {
      return new Options(account, clock, sessions, Optional.of(name), node, checkpoints, accountPrincipal);
    }

    public Options withNode(ServiceNode newNode) {
      return new Options(account, clock, sessions, defaultKeyStoreName, newNode, checkpoints, accountPrincipal);
    }

    public Options withCheckpoints(Checkpoints newCheckpoints) {
      return new Options(account, clock, sessions, defaultKeyStoreName, node, newCheckpoints, accountPrincipal);
    }

    public Options withAccountPrincipal(AccountPrincipal newAccountPrincipal) {
      return new Options(account, clock, sessions, defaultKeyStoreName, node, checkpoints, newAccountPrincipal);
    }
  }

  /**
   * Starts the background work: every {@code replicationInterval} the logins to stores this node
   * missed and to HSMs that answer again (on every node), the abandoned connects and a reconciler pass (on the holder of the
   * {@value #BACKGROUND_ROLE} role) or a probe of this node's HSMs (on the others), and every
   * {@code deletionInterval} the deletion of keys whose waiting period ended (on the holder); all of
   * it stops at {@link #close()}.
   */
  public synchronized void startBackgroundWork(Duration replicationInterval, Duration deletionInterval) {
    if (background != null) {
      return;
    }
    background = new HsmWorker("keyhold-background");
    background.runEvery(replicationInterval, this::reconcileOrProbe);
    background.runEvery(deletionInterval, this::deleteDueKeys);
  }

  private void reconcileOrProbe() {
    try {
      connections.catchUp();
      connections.logInToReturningHsms();
      holdsBackgroundRole = metadata.holdsRole(BACKGROUND_ROLE);
      if (holdsBackgroundRole) {
        connections.finishAbandonedConnects();
        replication.runOnce();
      } else {
        replication.probeOnce();
      }
    } catch (RuntimeException e) {
      LOG.warn("reconciler pass failed; the next pass tries again", e);
    }
  }

  private void deleteDueKeys() {
    try {
      if (metadata.holdsRole(BACKGROUND_ROLE)) {
        keys.deletions().deleteDueKeys().forEach(arn -> LOG.info("deleted {} at the end of its waiting period", arn));
      }
    } catch (RuntimeException e) {
      LOG.warn("deleting due keys failed; the next run tries again", e);
    }
  }

  /** This node's name. */
  public String nodeName() {
    return node.name();
  }

  /** The roles this node held when the background work last asked: {@value #BACKGROUND_ROLE}, or none. */
  public Set<String> roles() {
    return holdsBackgroundRole ? Set.of(BACKGROUND_ROLE) : Set.of();
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

  /** CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant. */
  public KeyGrants grants() {
    return grants;
  }

  public KeyReplication replication() {
    return replication;
  }

  /** Decides requests against the keys' policies, the callers' identity policies and the keys' grants. */
  public Authorizer authorizer() {
    return authorizer;
  }

  /** The identity policies of principals, which the operator manages. */
  public IdentityPolicies identityPolicies() {
    return identityPolicies;
  }

  /** Stops the background work and logs out of every HSM. */
  @Override
  public synchronized void close() {
    if (background != null) {
      background.close();
      background = null;
    }
    replication.close();
    keyStores.close();
  }
}
