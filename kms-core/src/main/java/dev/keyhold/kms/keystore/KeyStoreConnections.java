package dev.keyhold.kms.keystore;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSet;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Clusters;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.kms.secret.SealedSecret;
import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.CallWatchdog;
import dev.keyhold.pkcs11.DeviceLostException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.PinLockedException;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.SessionsExhaustedException;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenNotFoundException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HSM side of key stores: connecting (logging in to every active HSM as kmsuser and rotating its
 * password), staying logged in while connected, and disconnecting.
 *
 * <h2>Rotating the kmsuser password without ever locking the service out</h2>
 *
 * The store keeps the password it knows (version v) and, while a rotation is under way, the next one
 * (v+1), both sealed under the master key, plus which version each HSM is known to hold. The steps,
 * each durable before the next:
 * <ol>
 *   <li>{@code pending-written}: the new password, and "every HSM holds v", are committed;
 *   <li>per HSM, {@code changing <hsm>}: "this HSM may hold either" is committed; {@code pin-changed
 *       <hsm>}: {@code C_SetPIN(v, v+1)} on the HSM; {@code recorded <hsm>}: "this HSM holds v+1" is
 *       committed;
 *   <li>{@code promoted}: v+1 becomes the password; the per-HSM records are dropped.
 * </ol>
 * A crash between any two steps leaves each HSM on v or v+1, both known. The next connect logs in with
 * the version recorded for the HSM, or, for the one HSM whose {@code C_SetPIN} may or may not have
 * happened, tries v, then v+1: at most one failed login, never a guess. It then finishes the rotation. Passwords
 * are rotated only when every HSM of the cluster is active and its profile has {@code C_SetPIN}, so no
 * HSM is left behind on a password the store forgot.
 *
 * <h2>One connecting node at a time</h2>
 *
 * A connect runs while its node holds the store's connect role ({@link MetadataStore#holdsRole}), a
 * PostgreSQL advisory lock that goes with the node's database session. So two nodes never rotate the
 * same password at once, and a node that dies mid-connect frees the store for another: the holder of
 * the background role finishes the connects that nobody runs ({@link #finishAbandonedConnects}),
 * from whatever step the dead node reached.
 */
public final class KeyStoreConnections implements AutoCloseable {
  static final String KMSUSER = "kmsuser";
  private static final Logger LOG = LoggerFactory.getLogger(KeyStoreConnections.class);
  private static final int PASSWORD_LENGTH = 32;
  /** The metadata store topic on which every change of a key store's connection state publishes its id. */
  private static final String CHANGED_STORES = "keyhold_changed_key_stores";
  private static final Set<String> SOMEONE_ELSE_LOGGED_IN =
      Set.of("CKR_USER_ANOTHER_ALREADY_LOGGED_IN", "CKR_USER_TOO_MANY_TYPES");

  private final MetadataStore metadata;
  private final Clusters clusters;
  private final MasterKey masterKey;
  private final SessionPoolConfig poolConfig;
  private final Checkpoints checkpoints;
  private final SecureRandom random = new SecureRandom();
  private final HsmWorker connector = new HsmWorker("keyhold-key-store-connector");
  /** The store whose connect the connector runs now, and the thread running it; see {@link #connectStuck}. */
  private volatile String connectingStore;
  private volatile Thread connectingThread;
  private final AutoCloseable stuckConnects = CallWatchdog.whenAbandoned(this::connectStuck);
  private final Map<String, ConnectedStore> connected = new ConcurrentHashMap<>();
  private final List<Consumer<String>> connectedListeners = new CopyOnWriteArrayList<>();
  /** The fills of handle indexes under way on the connector thread, by store: one per connect or join. */
  private final Map<String, CompletableFuture<Void>> indexing = new ConcurrentHashMap<>();
  private final Map<String, Object> locks = new ConcurrentHashMap<>();
  /**
   * Stores whose join a token refused with the password the store knows: {@link #catchUp} leaves
   * them alone (a token that locks its user out must not see a refused login every pass) until the
   * store changes and its notification asks again.
   */
  private final Set<String> refusedJoins = ConcurrentHashMap.newKeySet();
  /** Tokens of returning HSMs that refused every password the store knows: never tried again. */
  private final Set<Token> refused = ConcurrentHashMap.newKeySet();
  /** The stores whose connect waits in the connector's queue, so that a store is queued once. */
  private final Set<String> queued = ConcurrentHashMap.newKeySet();

  public KeyStoreConnections(MetadataStore metadata, Clusters clusters, MasterKey masterKey,
      SessionPoolConfig poolConfig, Checkpoints checkpoints) {
    this.metadata = metadata;
    this.clusters = clusters;
    this.masterKey = masterKey;
    this.poolConfig = poolConfig;
    this.checkpoints = checkpoints;
    metadata.subscribe(CHANGED_STORES, id -> connector.execute(() -> follow(id)),
        () -> connector.execute(this::followAll));
  }

  /**
   * Records, in the transaction of {@code c}, that the connection state of {@code keyStoreId} changed:
   * once it commits, every node that shares the database brings its own logins in line
   * ({@link #follow}).
   */
  void changed(Connection c, String keyStoreId) {
    metadata.publishOnCommit(c, CHANGED_STORES, keyStoreId);
  }

  /**
   * Logs this node in to a store that is CONNECTED (another node connected it, or this node connected
   * it before a restart), with the password the store knows and without rotating it; returns whether
   * this node now holds the store's logins.
   */
  boolean join(String keyStoreId) {
    synchronized (lockFor(keyStoreId)) {
      KeyStoreRecord store = metadata.inTransaction(c -> KeyStoreTable.byId(c, keyStoreId)).orElse(null);
      if (store == null || store.state != ConnectionState.CONNECTED) {
        return false;
      }
      ConnectedStore joined = connected.get(keyStoreId);
      if (joined != null) {
        useStorePassword(store, joined);
        return true;
      }
      try {
        ConnectedStore logins = open(store, false);
        connected.put(keyStoreId, logins);
        tellConnected(keyStoreId);
        LOG.info("key store {} joined: logged in to {} HSM(s)", keyStoreId, logins.tokens().size());
        return true;
      } catch (RuntimeException e) {
        if (e instanceof ConnectFailure failure && failure.code == ConnectionErrorCode.INVALID_CREDENTIALS) {
          refusedJoins.add(keyStoreId);
        }
        LOG.warn("cannot log in to the connected key store {}: {}", keyStoreId, e.getMessage());
        return false;
      }
    }
  }

  /**
   * Has {@code logins} log in with the password {@code store} knows from their next login on: another
   * node may have rotated it since they logged in. Sessions logged in now stay logged in.
   */
  private void useStorePassword(KeyStoreRecord store, ConnectedStore logins) {
    if (store.pendingPassword != null) {
      return; // a rotation under way; its end publishes the settled password
    }
    Pin password = masterKey.open(store.password, store.id);
    for (ServingHsm hsm : logins.hsms()) {
      if (!hsm.isAwaitingLogin()) { // that one's login is decided in logInToReturningHsms
        hsm.token().useLoginPin(hsm.token().profile().loginPin(KMSUSER, password));
      }
    }
  }

  /**
   * Brings this node's logins of {@code keyStoreId} in line with the store's state as the database
   * holds it now: logged in while it is CONNECTED, logged out once it is not connected or connecting.
   */
  private void follow(String keyStoreId) {
    refusedJoins.remove(keyStoreId);
    KeyStoreRecord store = metadata.inTransaction(c -> KeyStoreTable.byId(c, keyStoreId)).orElse(null);
    ConnectionState state = store == null ? ConnectionState.DISCONNECTED : store.state;
    switch (state) {
      case CONNECTED -> join(keyStoreId);
      case CONNECTING -> { } // the connecting node's outcome follows
      default -> disconnect(keyStoreId);
    }
  }

  /**
   * Joins the stores that are CONNECTED but not logged in here, and leaves those no longer connected,
   * as their notifications would have: a node whose join failed for a passing reason (a token busy,
   * a notification lost while its listener reconnected) catches up at the next background pass
   * instead of waiting for the store's next change. A store whose token refused the password is
   * left to its next change.
   */
  public void catchUp() {
    for (KeyStoreRecord store : metadata.inTransaction(KeyStoreTable::all)) {
      boolean joined = connected.containsKey(store.id);
      boolean missed = store.state == ConnectionState.CONNECTED
          ? !joined && !refusedJoins.contains(store.id)
          : joined && store.state != ConnectionState.CONNECTING;
      if (missed) {
        connector.execute(() -> follow(store.id));
      }
    }
  }

  private void followAll() {
    for (KeyStoreRecord store : metadata.inTransaction(KeyStoreTable::all)) {
      follow(store.id);
    }
    connected.keySet().forEach(this::follow); // and the ones deleted meanwhile
  }

  /** The logins of a CONNECTED store. */
  public Optional<ConnectedStore> connected(String keyStoreId) {
    return Optional.ofNullable(connected.get(keyStoreId));
  }

  /** The ids of the stores connected now. */
  public ImmutableSet<String> connectedStoreIds() {
    return ImmutableSet.copyOf(connected.keySet());
  }

  /**
   * Runs {@code listener} with a store's id each time it connects, on the connecting thread, after the
   * logins are in place and before CONNECTED is visible: whoever sees CONNECTED sees its work done.
   */
  public void whenConnected(Consumer<String> listener) {
    connectedListeners.add(listener);
  }

  void connectInBackground(String keyStoreId) {
    if (queued.add(keyStoreId)) {
      connector.execute(() -> {
        queued.remove(keyStoreId);
        connect(keyStoreId);
      });
    }
  }

  /**
   * Connects, in the background, the stores left CONNECTING that no node connects now: their node
   * died, or lost the database, in the middle. Run by the holder of the background role.
   */
  public void finishAbandonedConnects() {
    for (KeyStoreRecord store : metadata.inTransaction(KeyStoreTable::all)) {
      if (store.state == ConnectionState.CONNECTING) {
        connectInBackground(store.id);
      }
    }
  }

  /** Closes the store's logins; waits for a connect of the same store that is under way. */
  void disconnect(String keyStoreId) {
    synchronized (lockFor(keyStoreId)) {
      ConnectedStore store = connected.remove(keyStoreId);
      if (store != null) {
        store.hsms().forEach(hsm -> refused.remove(hsm.token()));
        store.close();
      }
    }
  }

  @Override
  public void close() {
    connector.close();
    try {
      stuckConnects.close();
    } catch (Exception e) {
      LOG.debug("{}", e.toString());
    }
    connected.keySet().forEach(this::disconnect);
  }

  private void connect(String keyStoreId) {
    synchronized (lockFor(keyStoreId)) {
      String role = connectRoleOf(keyStoreId);
      if (!metadata.holdsRole(role)) {
        return; // another node connects it; its outcome follows
      }
      connectingStore = keyStoreId;
      connectingThread = Thread.currentThread();
      try {
        connectHoldingRole(keyStoreId);
      } finally {
        if (connectingThread == Thread.currentThread()) {
          connectingThread = null;
          metadata.releaseRole(role);
        } // else abandoned, and connectStuck released the role
      }
    }
  }

  private void connectHoldingRole(String keyStoreId) {
    KeyStoreRecord store = metadata.inTransaction(c -> KeyStoreTable.byId(c, keyStoreId)).orElse(null);
    if (store == null || store.state != ConnectionState.CONNECTING) {
      return;
    }
    ConnectedStore logins;
    try {
      logins = open(store, true);
    } catch (ConnectRoleLost lost) {
      LOG.warn("stopped connecting key store {}: {}", keyStoreId, lost.getMessage());
      return;
    } catch (ConnectFailure failure) {
      LOG.warn("connecting key store {} failed: {}", keyStoreId, failure.getMessage());
      settle(keyStoreId, ConnectionState.FAILED, failure.code, null);
      return;
    } catch (RuntimeException e) {
      LOG.warn("connecting key store {} failed", keyStoreId, e);
      settle(keyStoreId, ConnectionState.FAILED, ConnectionErrorCode.INTERNAL_ERROR, null);
      return;
    }
    settle(keyStoreId, ConnectionState.CONNECTED, null, logins);
  }

  /** Records the outcome of this thread's connect, unless it was abandoned ({@link #connectStuck}). */
  private void settle(String keyStoreId, ConnectionState state, ConnectionErrorCode code, ConnectedStore logins) {
    if (Thread.currentThread() != connectingThread) {
      LOG.warn("the connect of key store {} returned from a hung HSM after it was abandoned; its outcome is dropped",
          keyStoreId);
      if (logins != null) {
        logins.close();
      }
      return;
    }
    finish(keyStoreId, state, code, logins);
  }

  /**
   * The connector thread is stuck in an HSM call past its deadline: its connect ends FAILED with
   * NETWORK_ERRORS, as AWS reports HSMs it cannot reach, so that the operator can connect again; the
   * store gets a fresh lock, so that the next connect, and every other change of it, goes on without
   * the stuck thread (which keeps the old one). If the stuck call ever returns, it fails, and the
   * connect it was part of records nothing ({@link #settle}); what a late {@code C_SetPIN} did is one
   * of the two passwords the rotation's records allow for that HSM, which the next connect tries.
   */
  private void connectStuck(Thread stuck) {
    String storeId = connectingStore;
    if (stuck != connectingThread || storeId == null) {
      return;
    }
    connectingThread = null;
    locks.remove(storeId);
    LOG.warn("the connect of key store {} is stuck in an HSM call past its deadline; it ends FAILED", storeId);
    // On the connector, not the watchdog's thread: both steps wait for the database.
    connector.execute(() -> {
      metadata.releaseRole(connectRoleOf(storeId)); // another node, or this one, may connect it again
      finish(storeId, ConnectionState.FAILED, ConnectionErrorCode.NETWORK_ERRORS, null);
    });
  }

  private static String connectRoleOf(String keyStoreId) {
    return "keyhold_connect_" + keyStoreId;
  }

  /**
   * Records the outcome, unless the store was disconnected meanwhile; then the logins are closed. The
   * logins are in place before CONNECTED is visible, so whoever sees CONNECTED finds them.
   */
  private void finish(String keyStoreId, ConnectionState state, ConnectionErrorCode code, ConnectedStore logins) {
    if (logins != null) {
      connected.put(keyStoreId, logins);
      tellConnected(keyStoreId);
    }
    boolean kept = metadata.inTransaction(c -> {
      Optional<KeyStoreRecord> store = KeyStoreTable.lockById(c, keyStoreId);
      if (store.isEmpty() || store.get().state != ConnectionState.CONNECTING) {
        return false;
      }
      KeyStoreTable.update(c, store.get().withState(state, code));
      changed(c, keyStoreId);
      return true;
    });
    if (logins == null) {
      return;
    }
    if (kept) {
      LOG.info("key store {} connected to {} HSM(s)", keyStoreId, logins.tokens().size());
    } else {
      connected.remove(keyStoreId, logins);
      logins.close();
    }
  }

  private void tellConnected(String keyStoreId) {
    for (Consumer<String> listener : connectedListeners) {
      try {
        listener.accept(keyStoreId);
      } catch (RuntimeException e) {
        LOG.warn("after connecting key store {}: {}", keyStoreId, e.toString());
      }
    }
    CompletableFuture<Void> fill = CompletableFuture.runAsync(() -> indexKeys(keyStoreId), connector);
    indexing.put(keyStoreId, fill);
    fill.whenComplete((done, failure) -> indexing.remove(keyStoreId, fill));
  }

  /**
   * Fills each logged-in HSM's handle index once, in the background after a connect: the first use of
   * a key then costs what its hundredth does, not a search of the token.
   */
  private void indexKeys(String keyStoreId) {
    logins(keyStoreId).forEach(Token::fillKeyIndex);
  }

  /**
   * Waits until the handle indexes of the stores {@code keyStoreIds}, joined or connected just before,
   * are filled, for {@code wait} at most: for a restarted node before it serves. A fill that takes
   * longer (a hung HSM, a very large token) goes on in the background, and calls that miss meanwhile
   * wait for it as after a connect.
   */
  void awaitKeyIndexes(List<String> keyStoreIds, Duration wait) {
    CompletableFuture<?>[] fills = keyStoreIds.stream().map(indexing::get).filter(Objects::nonNull)
        .toArray(CompletableFuture<?>[]::new);
    try {
      CompletableFuture.allOf(fills).get(wait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      LOG.warn("the handle indexes of key stores {} are not filled after {} s; serving meanwhile", keyStoreIds,
          wait.toSeconds());
    } catch (ExecutionException e) {
      LOG.warn("filling the handle indexes of key stores {} failed: {}", keyStoreIds, e.getCause().toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The tokens of the store's HSMs that are logged in now; none once it is disconnected. */
  private List<Token> logins(String keyStoreId) {
    ConnectedStore logins = connected.get(keyStoreId);
    return logins == null ? List.of() : logins.hsms().stream()
        .filter(hsm -> !hsm.isAwaitingLogin()).map(ServingHsm::token).toList();
  }

  /** Logs in to every active HSM of the store, and rotates kmsuser's password if {@code rotate}. */
  private ConnectedStore open(KeyStoreRecord store, boolean rotate) {
    Cluster cluster = clusters.current().find(store.clusterId).orElseThrow(() -> new ConnectFailure(
        ConnectionErrorCode.CLUSTER_NOT_FOUND, "no cluster " + store.clusterId + " in the clusters file"));
    List<Hsm> active = cluster.activeHsms();
    if (active.isEmpty()) {
      throw new ConnectFailure(ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS,
          "cluster " + store.clusterId + " has no active HSM");
    }
    Pin current = masterKey.open(store.password, store.id);
    Pin pending = store.pendingPassword == null ? null : masterKey.open(store.pendingPassword, store.id);
    ImmutableMap<String, Integer> recorded = metadata.inTransaction(c -> KeyStoreTable.passwordVersionsOnHsms(c, store.id));
    ConnectedStore logins = new ConnectedStore();
    try {
      Map<String, Integer> held = new HashMap<>();
      // The HSMs of an AWS CloudHSM cluster share one slot, whose second login answers "already logged
      // in" whatever the PIN: each must try first the password that an earlier one took.
      Map<String, Integer> heldBySlot = new HashMap<>();
      ConnectFailure unreachable = null;
      for (Hsm hsm : active) {
        Pkcs11Module module = load(hsm, logins);
        String slot = hsm.module() + " " + hsm.tokenLabel();
        try {
          List<Candidate> candidates = candidates(store, hsm, current, pending, recorded);
          Integer taken = heldBySlot.get(slot);
          int version = logIn(hsm, module, taken == null ? candidates
              : candidates.stream().sorted(Comparator.comparing(candidate -> candidate.version != taken)).toList(), logins);
          held.put(hsm.hsmId(), version);
          heldBySlot.putIfAbsent(slot, version);
        } catch (Unreachable e) {
          LOG.warn("key store {}: {}; serving from the other HSMs until it answers", store.id, e.getMessage());
          logins.addAwaitingLogin(hsm.hsmId(), Token.awaitingLogin(module, hsm.tokenLabel(), hsm.profile(), poolConfig));
          unreachable = e;
        }
      }
      if (held.isEmpty()) {
        throw unreachable;
      }
      if (rotate && held.size() < active.size()) {
        LOG.info("kmsuser password of key store {} not rotated: an HSM does not answer; the next connect with every"
            + " HSM answering rotates it", store.id);
      } else if (rotate && rotatesThroughCli(cluster)) {
        // The CloudHSM CLI changes no password of a user logged in anywhere, this process included.
        logins.close();
        rotate(store, cluster, null, current, pending, held);
        return open(metadata.inTransaction(c -> KeyStoreTable.byId(c, store.id)).orElseThrow(), false);
      } else if (rotate) {
        rotate(store, cluster, logins, current, pending, held);
      }
      return logins;
    } catch (RuntimeException e) {
      logins.close();
      throw e;
    }
  }

  /**
   * Logs in to the HSMs of connected stores that did not answer when the store connected and answer
   * now, each with the password the store records for it (or, for the one HSM whose password change a
   * crash may have interrupted, the two it may hold): at most one refused login per HSM, never a
   * guess. Every node does this for its own logins, at each background pass; the reconciler then
   * copies in the keys such an HSM lacks.
   */
  public void logInToReturningHsms() {
    for (String storeId : connectedStoreIds()) {
      synchronized (lockFor(storeId)) {
        ConnectedStore logins = connected.get(storeId);
        List<ServingHsm> returning = logins == null ? List.of() : logins.hsms().stream()
            .filter(hsm -> hsm.isAwaitingLogin() && !refused.contains(hsm.token()) && hsm.token().isPresent())
            .toList();
        if (!returning.isEmpty()) {
          logInToReturning(storeId, returning);
        }
      }
    }
  }

  private void logInToReturning(String storeId, List<ServingHsm> returning) {
    KeyStoreRecord store = metadata.inTransaction(c -> KeyStoreTable.byId(c, storeId)).orElse(null);
    if (store == null || store.state != ConnectionState.CONNECTED) {
      return; // the store's own change follows
    }
    Pin current = masterKey.open(store.password, store.id);
    Pin pending = store.pendingPassword == null ? null : masterKey.open(store.pendingPassword, store.id);
    ImmutableMap<String, Integer> recorded = metadata.inTransaction(c -> KeyStoreTable.passwordVersionsOnHsms(c, store.id));
    Optional<Cluster> cluster = clusters.current().find(store.clusterId);
    for (ServingHsm serving : returning) {
      Hsm hsm = cluster.flatMap(c -> c.hsms().stream().filter(h -> h.hsmId().equals(serving.hsmId())).findFirst())
          .orElse(null);
      if (hsm == null) {
        continue; // gone from the clusters file; the next connect leaves it out
      }
      try {
        for (Candidate candidate : candidates(store, hsm, current, pending, recorded)) {
          try {
            serving.token().logIn(hsm.profile().loginPin(KMSUSER, candidate.password));
            serving.loggedIn();
            LOG.info("HSM {} of key store {} answers again: logged in as kmsuser", hsm.hsmId(), storeId);
            break;
          } catch (BadCredentialsException refusedOnce) {
            // the next candidate, if any
          }
        }
        if (serving.isAwaitingLogin()) {
          refused.add(serving.token());
          LOG.error("HSM {} of key store {} refuses every password the store knows for kmsuser; it stays out of "
              + "service until the store is disconnected and connected again", hsm.hsmId(), storeId);
        }
      } catch (Pkcs11Exception e) {
        LOG.info("HSM {} of key store {} does not answer yet: {}", hsm.hsmId(), storeId, e.getMessage());
      }
    }
  }

  /** The passwords an HSM may hold, most likely first, with their versions. */
  private static ImmutableList<Candidate> candidates(
      KeyStoreRecord store, Hsm hsm, Pin current, Pin pending, Map<String, Integer> recorded) {
    Candidate known = new Candidate(current, store.passwordVersion);
    if (pending == null) {
      return ImmutableList.of(known);
    }
    Candidate next = new Candidate(pending, store.passwordVersion + 1);
    Integer version = recorded.get(hsm.hsmId());
    if (version == null) {
      return ImmutableList.of(known, next); // a crash between C_SetPIN and its record
    }
    return ImmutableList.of(version == store.passwordVersion ? known : next);
  }

  /** Loads {@code hsm}'s PKCS#11 library, released with {@code logins}. */
  private static Pkcs11Module load(Hsm hsm, ConnectedStore logins) {
    Pkcs11Module module;
    try {
      module = Pkcs11Module.load(hsm.module());
    } catch (Pkcs11Exception e) {
      throw new ConnectFailure(ConnectionErrorCode.NETWORK_ERRORS, hsm.hsmId() + ": " + e.getMessage());
    }
    logins.add(module);
    return module;
  }

  /**
   * Logs in to {@code hsm} with the first candidate it takes; returns that candidate's version.
   *
   * @throws Unreachable if the HSM does not answer
   */
  private int logIn(Hsm hsm, Pkcs11Module module, List<Candidate> candidates, ConnectedStore logins) {
    for (Candidate candidate : candidates) {
      try {
        Token token = Token.login(module, hsm.tokenLabel(), hsm.profile(),
            hsm.profile().loginPin(KMSUSER, candidate.password), poolConfig);
        logins.add(hsm.hsmId(), token);
        return candidate.version;
      } catch (BadCredentialsException e) {
        if (e.returnValue().orElse("").equals("CKR_USER_PIN_NOT_INITIALIZED")) {
          throw new ConnectFailure(ConnectionErrorCode.USER_NOT_FOUND, hsm.hsmId() + " has no kmsuser");
        }
      } catch (PinLockedException e) {
        throw new ConnectFailure(ConnectionErrorCode.USER_LOCKED_OUT, hsm.hsmId() + ": " + e.getMessage());
      } catch (TokenNotFoundException | DeviceLostException | SessionsExhaustedException e) {
        throw new Unreachable(hsm.hsmId() + " does not answer: " + e.getMessage());
      } catch (Pkcs11Exception e) {
        if (SOMEONE_ELSE_LOGGED_IN.contains(e.returnValue().orElse(""))) {
          throw new ConnectFailure(ConnectionErrorCode.USER_LOGGED_IN, hsm.hsmId() + ": " + e.getMessage());
        }
        throw e;
      }
    }
    throw new ConnectFailure(ConnectionErrorCode.INVALID_CREDENTIALS,
        "no password the key store knows logs kmsuser in to " + hsm.hsmId());
  }

  /**
   * Rotates kmsuser's password from {@code current} to a new one (or the {@code pending} one a crash
   * left), on each HSM that {@code held} says holds {@code current}, in durable steps (see the class
   * comment). Each step is one call that changes the password on some HSMs: {@code C_SetPIN} on one
   * HSM's login ({@code logins}), or, on an AWS CloudHSM cluster, which holds its users once for all
   * its HSMs, one run of the cluster's CloudHSM CLI (then {@code logins} is null: the CLI refuses to
   * change the password of a user logged in anywhere, so the caller logged out first).
   */
  private void rotate(KeyStoreRecord store, Cluster cluster, ConnectedStore logins, Pin current, Pin pending,
      Map<String, Integer> held) {
    if (!canRotate(cluster)) {
      LOG.info("kmsuser password of key store {} not rotated: not every HSM of {} is active and rotatable{}",
          store.id, cluster.clusterId(), cluster.hsms().stream().anyMatch(hsm -> hsm.profile().clusterSyncsKeys())
              ? " (an AWS CloudHSM cluster needs its cloudhsmCli in the clusters file)" : "");
      return;
    }
    int version = store.passwordVersion;
    Pin next = pending;
    SealedSecret sealedNext = store.pendingPassword;
    if (next == null) {
      Pin fresh = Pin.random(random, PASSWORD_LENGTH);
      SealedSecret sealedFresh = masterKey.seal(fresh, store.id);
      boolean written = metadata.inTransaction(c -> {
        KeyStoreRecord latest = KeyStoreTable.lockById(c, store.id).orElseThrow();
        if (latest.passwordVersion != version || latest.pendingPassword != null) {
          return false; // another connect (of another node) rotates, or has rotated, since the store was read
        }
        KeyStoreTable.update(c, latest.withPendingPassword(sealedFresh));
        for (Hsm hsm : cluster.hsms()) {
          KeyStoreTable.setPasswordVersionOnHsm(c, store.id, hsm.hsmId(), version);
        }
        return true;
      });
      if (!written) {
        LOG.info("kmsuser password of key store {} not rotated: another connect is rotating it", store.id);
        return;
      }
      checkpoints.reached("pending-written");
      next = fresh;
      sealedNext = sealedFresh;
    }
    for (PasswordChange change : passwordChanges(cluster, logins, held, version)) {
      metadata.inTransaction(c -> {
        for (Hsm hsm : change.hsms()) {
          KeyStoreTable.forgetPasswordVersionOnHsm(c, store.id, hsm.hsmId());
        }
        return null;
      });
      checkpoints.reached("changing " + change.name());
      if (Thread.currentThread() != connectingThread) {
        throw new ConnectRoleLost("this connect was abandoned when an HSM hung; the next connect resumes from the "
            + "recorded step");
      }
      if (!metadata.holdsRole(connectRoleOf(store.id))) {
        throw new ConnectRoleLost("this node lost the database, and with it the right to rotate; the node "
            + "that takes the store over resumes from the recorded step");
      }
      change.call().change(current, next);
      checkpoints.reached("pin-changed " + change.name());
      metadata.inTransaction(c -> {
        for (Hsm hsm : change.hsms()) {
          KeyStoreTable.setPasswordVersionOnHsm(c, store.id, hsm.hsmId(), version + 1);
        }
        return null;
      });
      checkpoints.reached("recorded " + change.name());
    }
    SealedSecret promoted = sealedNext;
    metadata.inTransaction(c -> {
      KeyStoreRecord latest = KeyStoreTable.lockById(c, store.id).orElseThrow();
      if (latest.passwordVersion != version || !promoted.equals(latest.pendingPassword)) {
        throw new IllegalStateException("the kmsuser password of key store " + store.id
            + " changed during its rotation; the next connect resumes from what the metadata store records");
      }
      KeyStoreTable.update(c, latest.withPendingPromoted());
      KeyStoreTable.clearPasswordVersionsOnHsms(c, store.id);
      changed(c, store.id); // nodes still logged in take the new password for their next login
      return null;
    });
    checkpoints.reached("promoted");
    LOG.info("kmsuser password of key store {} rotated on {} HSM(s)", store.id, cluster.hsms().size());
  }

  /** Whether every HSM of {@code cluster} is active and can have kmsuser's password changed. */
  private static boolean canRotate(Cluster cluster) {
    boolean throughCli = rotatesThroughCli(cluster);
    return cluster.hsms().stream().allMatch(hsm -> hsm.isActive() && (throughCli || hsm.profile().canChangePin()));
  }

  /** Whether {@code cluster} is an AWS CloudHSM one (its HSMs share their users) whose CLI changes passwords. */
  private static boolean rotatesThroughCli(Cluster cluster) {
    return cluster.cloudHsmCli().isPresent() && !cluster.hsms().isEmpty()
        && cluster.hsms().stream().allMatch(hsm -> hsm.profile().clusterSyncsKeys());
  }

  /** The calls that move the HSMs that hold version {@code version} of the password to the next. */
  private static List<PasswordChange> passwordChanges(Cluster cluster, ConnectedStore logins,
      Map<String, Integer> held, int version) {
    List<Hsm> onCurrent = cluster.hsms().stream().filter(hsm -> held.get(hsm.hsmId()) == version).toList();
    if (rotatesThroughCli(cluster)) {
      CloudHsmCli cli = new CloudHsmCli(cluster.cloudHsmCli().orElseThrow(), cluster.clusterId());
      return onCurrent.isEmpty() ? List.of()
          : List.of(new PasswordChange(cluster.clusterId(), onCurrent, (from, to) -> {
            try {
              cli.changeOwnPassword(KMSUSER, from, to);
            } catch (CloudHsmCli.Unanswered e) {
              throw new ConnectFailure(ConnectionErrorCode.NETWORK_ERRORS, e.getMessage());
            } catch (CloudHsmCli.Refused e) {
              throw new ConnectFailure(e.saysUserLoggedIn() ? ConnectionErrorCode.USER_LOGGED_IN
                  : ConnectionErrorCode.INTERNAL_ERROR, e.getMessage());
            }
          }));
    }
    return onCurrent.stream().map(hsm -> new PasswordChange(hsm.hsmId(), List.of(hsm), (from, to) ->
        logins.token(hsm.hsmId()).changePin(hsm.profile().loginPin(KMSUSER, from), hsm.profile().loginPin(KMSUSER, to))))
        .toList();
  }

  /** One call that changes kmsuser's password on {@code hsms}, named {@code name} in the rotation's steps. */
  private record PasswordChange(String name, List<Hsm> hsms, PasswordCall call) {}

  private interface PasswordCall {
    void change(Pin from, Pin to);
  }

  private Object lockFor(String keyStoreId) {
    return locks.computeIfAbsent(keyStoreId, id -> new Object());
  }

  /** A password the store knows, and its version. */
  private record Candidate(Pin password, int version) {}

  /** Why a connect stopped without an outcome: another node takes the store over. */
  private static final class ConnectRoleLost extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ConnectRoleLost(String message) {
      super(message);
    }
  }

  /** Why a connect ended FAILED. */
  private static class ConnectFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient ConnectionErrorCode code;

    ConnectFailure(ConnectionErrorCode code, String message) {
      super(message);
      this.code = code;
    }
  }

  /** An HSM that does not answer: the store connects without it if another one answers. */
  private static final class Unreachable extends ConnectFailure {
    private static final long serialVersionUID = 1L;

    Unreachable(String message) {
      super(ConnectionErrorCode.NETWORK_ERRORS, message);
    }
  }
}
