package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_ID;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_LABEL;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_ECB;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_GEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_WRAP_PAD;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKR_KEY_HANDLE_INVALID;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKR_OBJECT_HANDLE_INVALID;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKR_USER_ALREADY_LOGGED_IN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKU_USER;

import com.google.common.collect.ImmutableList;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;

/**
 * One token, logged in as its user, with a pool of sessions and an index of key handles.
 *
 * <p>The token stays logged in through a session of its own that the pool never hands out. When the
 * token stops answering, the call that saw it fails with {@link DeviceLostException}, every session
 * and cached handle is dropped, and the next call finds the token by label again and logs in anew:
 * no restart is needed.
 *
 * <p>Every call on a pooled session has a deadline ({@link SessionPoolConfig#callDeadline()}). When
 * one passes it, the {@link CallWatchdog} abandons the call and marks the token hung: from then on
 * every call fails at once with {@link DeviceLostException}, nothing more reaches the library, and
 * a probe thread opens a session once a second. When one opens within the deadline, the token drops
 * its sessions (their permits included, which stuck calls hold) and the next call logs in anew.
 *
 * <p>The index maps each {@link AesKey} to its handle, per connection, since handles die with it. The
 * first miss of a connection fills it from one enumeration of the token's AES keys, so that the first
 * use of any key present then costs what its hundredth does: SoftHSM2 and others search by label
 * object by object ({@code C_FindObjects} costs some 25-35 µs per object in the token), and the
 * enumeration costs about three such searches, once (see docs/benchmarks.md). The token's own
 * operations keep the index current. Other processes (other nodes, a cluster's own key sync) create
 * and destroy keys behind it, so a miss is never taken as absence: the key is searched for and
 * remembered; a handle the token calls invalid is dropped and the key searched for once more. The
 * index costs about 2.3 MB per 10,000 keys of 75-character labels and 16-byte ids (computed: about
 * 230 bytes an entry with its key, label, id, boxed handle, map node and table slot).
 *
 * <p>Thread-safe.
 */
public final class Token implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Token.class);
  /** Handles per call of an enumeration: some milliseconds of {@code C_GetAttributeValue} calls. */
  private static final int ENUMERATION_CHUNK = 500;

  private final Pkcs11Module module;
  private final String label;
  private final TokenProfile profile;
  private final SessionPoolConfig poolConfig;
  /** Null while a token made by {@link #awaitingLogin} has not logged in. */
  private volatile Pin loginPin;
  /** Null while the token is lost; swapped without a lock so a failing call never waits on a reconnect. */
  private final AtomicReference<Connection> connection = new AtomicReference<>();
  /**
   * Whether a token missing from the library is a lost device (to wait for, or to re-initialise the
   * library for) rather than a label that names nothing: once it was reached, or when it was opened
   * to be reached later. Guarded by this.
   */
  private boolean knownToExist;
  private volatile boolean closed;
  /** Set by the watchdog when a call passed its deadline; cleared by the probe that finds the token answering. */
  private final AtomicBoolean hung = new AtomicBoolean();
  /** Per-key {@code C_FindObjects} searches, the ones the index spares: for tests to count. */
  final AtomicLong keySearches = new AtomicLong();
  /** Enumerations of every AES key (index fills and {@link #listAesKeys}): for tests to count. */
  final AtomicLong enumerations = new AtomicLong();

  private Token(Pkcs11Module module, String label, TokenProfile profile, Pin loginPin, SessionPoolConfig poolConfig) {
    this.module = module;
    this.label = label;
    this.profile = profile;
    this.loginPin = loginPin;
    this.poolConfig = poolConfig;
  }

  /**
   * Finds the token labelled {@code label} in {@code module} and logs in as its user.
   *
   * @param loginPin the PIN as {@code C_Login} takes it; see {@link TokenProfile#loginPin}
   * @throws TokenNotFoundException if no token carries {@code label}
   * @throws BadCredentialsException if the token refuses {@code loginPin}
   */
  public static Token login(
      Pkcs11Module module, String label, TokenProfile profile, Pin loginPin, SessionPoolConfig poolConfig) {
    Token token = new Token(checkNotNull(module, "module"), checkNotNull(label, "label"),
        checkNotNull(profile, "profile"), checkNotNull(loginPin, "loginPin"), checkNotNull(poolConfig, "poolConfig"));
    token.connection();
    return token;
  }

  /**
   * A token that is not logged in yet, such as one HSM of a cluster that is down while the others
   * serve: every call fails with {@link DeviceLostException}, and nothing reaches the library, until
   * {@link #logIn} succeeds. So a caller unsure which PIN the token holds decides each login attempt
   * itself: a token that locks its user out after a few failures never sees one by accident.
   */
  public static Token awaitingLogin(Pkcs11Module module, String label, TokenProfile profile,
      SessionPoolConfig poolConfig) {
    Token token = new Token(checkNotNull(module, "module"), checkNotNull(label, "label"),
        checkNotNull(profile, "profile"), null, checkNotNull(poolConfig, "poolConfig"));
    synchronized (token) {
      token.knownToExist = true;
    }
    return token;
  }

  /**
   * Logs in to a token made by {@link #awaitingLogin} with {@code loginPin}, which it keeps for later
   * logins; a token logged in already keeps its login and takes {@code loginPin} for the next.
   *
   * @throws BadCredentialsException if the token refuses {@code loginPin}; the token stays as it was
   * @throws DeviceLostException if the token does not answer
   */
  public synchronized void logIn(Pin loginPin) {
    checkNotNull(loginPin, "loginPin");
    Pin before = this.loginPin;
    this.loginPin = loginPin;
    try {
      connection();
    } catch (RuntimeException e) {
      this.loginPin = before;
      throw e;
    }
  }

  /**
   * Whether a call on this token passed its deadline and no probe has found it answering since: while
   * it is, every call fails at once with {@link DeviceLostException}.
   */
  public boolean isHung() {
    return hung.get();
  }

  /** The watchdog abandoned a call on this token: fail every call until a probe answers. */
  void hung() {
    if (hung.compareAndSet(false, true)) {
      Thread probe = new Thread(this::probeUntilAnswering, "keyhold-probe-" + label);
      probe.setDaemon(true);
      probe.start();
    }
  }

  /**
   * Once a second, opens a session within the deadline, watched like any call: a probe the hang
   * keeps is abandoned in turn, and the next one starts when it returns. When one answers, the
   * connection is dropped, so the next call opens a full pool and logs in again.
   */
  private void probeUntilAnswering() {
    while (hung.get() && !closed) {
      try {
        TimeUnit.SECONDS.sleep(1);
      } catch (InterruptedException e) {
        return; // a daemon: only the process's end interrupts it
      }
      probeOnce();
    }
  }

  /** One watched probe of a hung token: clears the hang if a session opens within the deadline. */
  private void probeOnce() {
    CallWatchdog.Watch watch = CallWatchdog.instance().watch(this);
    watch.begin("C_OpenSession (probe)", poolConfig.callDeadline().toNanos());
    boolean answered;
    boolean inTime;
    try {
      answered = opensASession();
    } finally {
      inTime = watch.end();
      watch.close();
    }
    if (answered && inTime && hung.compareAndSet(true, false)) {
      module.renewObjectsLock(label);
      dropConnection();
      LOG.warn("token '{}' answers again after a hang; the next call logs in anew", label);
    }
  }

  private boolean opensASession() {
    Lock callLock = module.callLock();
    callLock.lock();
    try {
      Optional<Slot> slot = module.findSlot(label);
      if (slot.isEmpty()) {
        return false;
      }
      Connection.closeQuietly(slot.get().getToken().openSession(false));
      return true;
    } catch (PKCS11Exception | Pkcs11Exception e) {
      return false;
    } catch (IllegalStateException closedMeanwhile) {
      return false; // the module closed while the token hung; the probe loop ends with the token
    } finally {
      callLock.unlock();
    }
  }

  private void dropConnection() {
    Connection current = connection.getAndSet(null);
    if (current != null) {
      module.callLock().lock();
      try {
        if (current.generation == module.generation()) {
          current.close();
        }
      } finally {
        module.callLock().unlock();
      }
    }
  }

  /** Whether the library shows a token with this label now, found without logging in. */
  public boolean isPresent() {
    try {
      module.slotId(label);
      return true;
    } catch (TokenNotFoundException | DeviceLostException e) {
      return false;
    }
  }

  public String label() {
    return label;
  }

  public TokenProfile profile() {
    return profile;
  }

  /**
   * Generates a persistent AES-256 key from {@code template} inside the token.
   *
   * @return the key's name, already in the handle index
   */
  public AesKey generateAesKey(AesKeyTemplate template) {
    checkNotNull(template, "template");
    AesKey key = template.key();
    return callOnObjects("C_GenerateKey", false, false, (session, connection) -> {
      long handle = session.generateKey(new Mechanism(CKM_AES_KEY_GEN), template.toAttributes());
      connection.remember(key, handle);
      return key;
    });
  }

  /**
   * The AES key labelled {@code label}, if the token holds exactly one. A key in the handle index is
   * checked on the token by its handle (one {@code C_GetAttributeValue}: it must still exist and carry
   * this label and id) rather than searched for, so this answer does not re-prove that no second key
   * with the label appeared since; every other answer, absence above all, comes from a search of the
   * token, since other processes create keys behind the index.
   */
  public Optional<AesKey> findAesKey(String label) {
    checkNotNull(label, "label");
    indexOnFirstMiss(current -> current.indexed(label).isEmpty());
    return callOnObjects("C_FindObjects", false, true, (session, connection) -> {
      Optional<Map.Entry<AesKey, Long>> indexed = connection.indexed(label);
      if (indexed.isPresent() && stillNames(session, indexed.get().getValue(), indexed.get().getKey())) {
        return Optional.of(indexed.get().getKey());
      }
      indexed.ifPresent(entry -> connection.forget(entry.getKey()));
      keySearches.incrementAndGet();
      long[] found = session.findObjectsSingle(AttributeVector.newAESSecretKey().label(label), 2);
      if (found.length == 0) {
        return Optional.empty();
      }
      checkUnique(found, "labelled '" + label + "'");
      AesKey key = AesKey.of(label, session.getAttrValues(found[0], CKA_ID).id());
      connection.remember(key, found[0]);
      return Optional.of(key);
    });
  }

  /** Whether {@code handle} still names {@code key} on the token; false for a handle no longer valid. */
  private static boolean stillNames(Session session, long handle, AesKey key) throws PKCS11Exception {
    Optional<AesKey> named = keyAt(session, handle);
    return named.isPresent() && named.get().equals(key);
  }

  /**
   * The key that {@code handle} names, if it names one with a label and id; empty for a handle no
   * longer valid (its object destroyed since it was found).
   */
  private static Optional<AesKey> keyAt(Session session, long handle) throws PKCS11Exception {
    AttributeVector attributes;
    try {
      attributes = session.getAttrValues(handle, CKA_LABEL, CKA_ID);
    } catch (PKCS11Exception e) {
      if (e.getErrorCode() == CKR_OBJECT_HANDLE_INVALID || e.getErrorCode() == CKR_KEY_HANDLE_INVALID) {
        return Optional.empty();
      }
      throw e;
    }
    String label = attributes.label();
    byte[] id = attributes.id();
    return label == null || label.isEmpty() || id == null || id.length == 0
        ? Optional.empty() : Optional.of(AesKey.of(label, id));
  }

  /**
   * Whether the current connection has listed the token's keys into its handle index ({@link
   * #fillKeyIndex}), or tried to (after a failed listing, keys are searched for one by one).
   */
  public boolean keyIndexFilled() {
    Connection current = connection.get();
    return current != null && current.indexed;
  }

  /**
   * Every AES key on the token that the user can see, by label and id: for reports of the material.
   * Fills the handle index as it goes.
   */
  public ImmutableList<AesKey> listAesKeys() {
    Connection current = connection.get();
    if (current == null) {
      return enumerate();
    }
    current.indexing.lock(); // a first miss racing a listing waits for its index instead of listing too
    try {
      return enumerate();
    } finally {
      current.indexing.unlock();
    }
  }

  /**
   * Fills the handle index of this login from one enumeration of the token's AES keys, unless it is
   * filled already (or being filled: then this waits for it, one call deadline at most): for a caller
   * about to use many keys, so that none of them pays a search of the token. Not connected yet, it
   * does nothing; a failed enumeration is logged, and keys are then searched for one by one.
   */
  public void fillKeyIndex() {
    indexOnFirstMiss(current -> true);
  }

  /**
   * Every AES key on the token, its handle remembered in the index of the connection that found it:
   * one {@code C_FindObjects}, then {@code C_GetAttributeValue} for each handle (the wrapper reads no
   * more than one object per call), those in calls of {@link #ENUMERATION_CHUNK} handles so that no
   * call of a large token nears the call deadline.
   *
   * @throws DeviceLostException also when the token reconnected between the calls
   */
  private ImmutableList<AesKey> enumerate() {
    enumerations.incrementAndGet();
    Found found = callOnObjects("C_FindObjects", false, true, (session, connection) ->
        new Found(connection, session.findAllObjectsSingle(AttributeVector.newAESSecretKey())));
    ImmutableList.Builder<AesKey> keys = ImmutableList.builder();
    for (int start = 0; start < found.handles.length; start += ENUMERATION_CHUNK) {
      int from = start;
      int to = Math.min(found.handles.length, start + ENUMERATION_CHUNK);
      boolean sameConnection = callOnObjects("C_GetAttributeValue", false, true, (session, connection) -> {
        if (connection != found.connection) {
          return false;
        }
        for (int i = from; i < to; i++) {
          long handle = found.handles[i];
          keyAt(session, handle).ifPresent(key -> {
            connection.remember(key, handle);
            keys.add(key);
          });
        }
        return true;
      });
      if (!sameConnection) {
        throw new DeviceLostException("token '" + label + "' reconnected while its keys were listed", null, null);
      }
    }
    found.connection.indexed = true;
    return keys.build();
  }

  /**
   * Fills the current connection's index from one enumeration, if it has not been filled and
   * {@code misses} says it lacks what the caller needs. Callers racing the fill wait for it rather than
   * search the token on their own, for one call deadline at most: a fill stuck in a hung token keeps
   * its thread, and theirs must go on to fail fast. A failed fill is not tried again on this
   * connection: misses fall back to searches, as they would without an index; a lost token makes a
   * new connection anyway.
   */
  private void indexOnFirstMiss(Predicate<Connection> misses) {
    Connection current = connection.get();
    if (current == null || current.generation != module.generation() || current.indexed || hung.get()
        || !misses.test(current)) {
      return; // not connected yet: the call connects, and a later miss fills the new connection's index
    }
    try {
      if (!current.indexing.tryLock(poolConfig.callDeadline().toNanos(), TimeUnit.NANOSECONDS)) {
        return;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    try {
      if (!current.indexed) {
        enumerate();
      }
    } catch (Pkcs11Exception e) {
      LOG.warn("listing the keys of token '{}' for its handle index failed; keys are searched for one by one"
          + " until it reconnects: {}", label, e.getMessage());
    } finally {
      current.indexed = true;
      current.indexing.unlock();
    }
  }

  /**
   * {@code key} wrapped under {@code wrappingKey} ({@code CKM_AES_KEY_WRAP_PAD}, RFC 5649), to carry it
   * to another HSM without it ever being in clear. The token decides who may: a replicable key only
   * under a trusted wrapping key, a non-extractable one never.
   */
  public byte[] wrapKey(AesKey wrappingKey, AesKey key) {
    checkNotNull(wrappingKey, "wrappingKey");
    checkNotNull(key, "key");
    return withKeys("C_WrapKey", false, false, (session, connection) -> session.wrapKey(
        new Mechanism(CKM_AES_KEY_WRAP_PAD), connection.handleOf(wrappingKey, session),
        connection.handleOf(key, session)), wrappingKey, key);
  }

  /** Unwraps what {@link #wrapKey} made into a persistent key with {@code template}'s attributes. */
  public AesKey unwrapAesKey(AesKey unwrappingKey, byte[] wrapped, AesKeyTemplate template) {
    checkNotNull(wrapped, "wrapped");
    checkNotNull(template, "template");
    checkNotNull(unwrappingKey, "unwrappingKey");
    return withKeys("C_UnwrapKey", false, true, (session, connection) -> {
      long handle = session.unwrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), connection.handleOf(unwrappingKey, session),
          wrapped, template.toUnwrapAttributes());
      connection.remember(template.key(), handle);
      return template.key();
    }, unwrappingKey);
  }

  /** AES-256-GCM with {@code key}, computed inside this token. */
  public Aead aesGcm(AesKey key) {
    return new TokenAesGcm(this, checkNotNull(key, "key"), module.cryptoCalls());
  }

  /** {@code length} random bytes from the token's generator ({@code C_GenerateRandom}). */
  public byte[] generateRandom(int length) {
    checkArgument(length > 0, "length must be positive: %s", length);
    CryptoCalls calls = module.cryptoCalls();
    return call("C_GenerateRandom", false, (session, connection) -> calls.generateRandom(session, length));
  }

  /**
   * Proves the token computes: generates a session AES key, encrypts a block with it, destroys it.
   * For health checks, which must not trust a token that only answers {@code C_GetTokenInfo}.
   *
   * @throws Pkcs11Exception as any call would, e.g. {@link DeviceLostException} for a lost token
   */
  public void probe() {
    call("C_GenerateKey", false, (session, connection) -> {
      long probeKey = session.generateKey(new Mechanism(CKM_AES_KEY_GEN),
          AttributeVector.newAESSecretKey().token(false).sensitive(true).encrypt(true).valueLen(32));
      try {
        session.encryptSingle(new Mechanism(CKM_AES_ECB), probeKey, new byte[16]);
      } finally {
        session.destroyObject(probeKey);
      }
      return null;
    });
  }

  /** Destroys {@code key} on this token. */
  public void destroyKey(AesKey key) {
    checkNotNull(key, "key");
    withKeys("C_DestroyObject", false, true, (session, connection) -> {
      session.destroyObject(connection.handleOf(key, session));
      connection.forget(key);
      return null;
    }, key);
  }

  /**
   * Changes the user's PIN with {@code C_SetPIN}, and logs in with the new one from then on.
   *
   * @throws UnsupportedByTokenException if the profile has no {@code C_SetPIN} (AWS CloudHSM)
   */
  public void changePin(Pin oldPin, Pin newPin) {
    checkNotNull(oldPin, "oldPin");
    checkNotNull(newPin, "newPin");
    if (!profile.canChangePin()) {
      throw new UnsupportedByTokenException(
          "token '" + label + "' (" + profile + ") has no C_SetPIN: change the password with the vendor's tools",
          null, null);
    }
    call("C_SetPIN", false, (session, connection) -> {
      char[] oldChars = oldPin.copyChars();
      char[] newChars = newPin.copyChars();
      try {
        session.setPIN(oldChars, newChars);
      } finally {
        Arrays.fill(oldChars, '\0');
        Arrays.fill(newChars, '\0');
      }
      return null;
    });
    loginPin = newPin;
  }

  /**
   * Logs in with {@code newPin} from the next login on (after a lost token), for a PIN that someone
   * else changed: another process sharing the token, or a cluster's own tools. Sessions logged in
   * now stay logged in.
   */
  public void useLoginPin(Pin newPin) {
    loginPin = checkNotNull(newPin, "newPin");
  }

  /** Sessions handed out right now. */
  public int sessionsInUse() {
    Connection current = connection.get();
    return current == null ? 0 : current.pool.sessionsInUse();
  }

  /** Open sessions waiting in the pool. */
  public int idleSessions() {
    Connection current = connection.get();
    return current == null ? 0 : current.pool.idleSessions();
  }

  /** Closes every session; the token's login ends with the last one. */
  @Override
  public synchronized void close() {
    closed = true;
    if (hung.get()) {
      Connection current = connection.getAndSet(null);
      if (current != null) {
        current.pool.abandon(); // closing sessions of a hung token would hang this thread too
      }
      return;
    }
    dropConnection();
  }

  @Override
  public String toString() {
    return "Token[" + label + ", " + profile + "]";
  }

  /** Runs {@code body} with the handle of {@code key}; a stale indexed handle is looked up once more. */
  <T> T withKey(AesKey key, String function, boolean decrypting, KeyCall<T> body) {
    checkNotNull(key, "key");
    return withKeys(function, decrypting, false,
        (session, connection) -> body.call(session, connection.handleOf(key, session)), key);
  }

  /**
   * Runs {@code body}, which resolves {@code keys} with {@link Connection#handleOf}: a first miss fills
   * the index, and when the token calls a handle invalid, the handles of {@code keys} are dropped and
   * {@code body} runs once more with handles looked up anew. A call that will search for a key the
   * index lacks, or that {@code writesObjects}, runs as {@link #callOnObjects}.
   */
  private <T> T withKeys(String function, boolean decrypting, boolean writesObjects, SessionCall<T> body,
      AesKey... keys) {
    Connection now = connection.get();
    if (now != null && !now.indexed) { // checked first so that the hot path builds no predicate
      indexOnFirstMiss(current -> lacksAny(current, keys));
    }
    try {
      boolean searches = lacksAny(connection.get(), keys);
      return searches || writesObjects ? callOnObjects(function, decrypting, searches, body)
          : call(function, decrypting, body);
    } catch (ObjectNotFoundException e) {
      if (e.returnValue().isEmpty()) {
        throw e; // the lookup itself found nothing: the key is not there
      }
      Connection current = connection.get();
      if (current != null) {
        Arrays.stream(keys).forEach(current::forget);
      }
      LOG.debug("an indexed handle of {} on token '{}' went stale; looking it up again", Arrays.toString(keys), label);
      return callOnObjects(function, decrypting, true, body);
    }
  }

  /** Whether {@code connection} (null: none yet) lacks a handle of {@code keys}, which a call then searches for. */
  private static boolean lacksAny(Connection connection, AesKey[] keys) {
    if (connection == null) {
      return true;
    }
    for (AesKey key : keys) {
      if (!connection.handles.containsKey(key)) {
        return true;
      }
    }
    return false;
  }

  /**
   * {@link #call} for a call that writes the token's objects or, if it {@code searches}, searches them:
   * on a token whose searches race its writes ({@link TokenProfile#searchesRaceObjectWrites}), writes
   * run side by side and a search runs alone, per token in this process ({@link
   * Pkcs11Module#objectsLock}). It waits for its turn one call deadline at most: a call stuck in a hung
   * token keeps the turn (until a probe finds the token answering and {@link
   * Pkcs11Module#renewObjectsLock renews} the lock), and the others must fail fast rather than wait
   * behind it.
   *
   * @throws DeviceLostException if the turn did not come within the call deadline
   */
  private <T> T callOnObjects(String function, boolean decrypting, boolean searches, SessionCall<T> body) {
    if (!profile.searchesRaceObjectWrites()) {
      return call(function, decrypting, body);
    }
    failIfHung();
    ReentrantReadWriteLock lock = module.objectsLock(label);
    Lock objects = searches ? lock.writeLock() : lock.readLock();
    boolean turn;
    try {
      turn = objects.tryLock(poolConfig.callDeadline().toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      turn = false;
    }
    if (!turn) {
      throw new DeviceLostException(function + " on token '" + label + "' waited past its deadline of "
          + poolConfig.callDeadline().toMillis() + " ms behind another call on the token's objects", null, null);
    }
    try {
      return call(function, decrypting, body);
    } finally {
      objects.unlock();
    }
  }

  /**
   * Runs {@code body} on a pooled session and maps any PKCS#11 error to the adapter's types. The call
   * holds the module's call lock, so the library is never re-initialised under it.
   */
  <T> T call(String function, boolean decrypting, SessionCall<T> body) {
    failIfHung();
    Lock callLock = module.callLock();
    while (true) {
      Connection current = connection();
      callLock.lock();
      try {
        if (current.generation != module.generation()) {
          continue; // re-initialised since connection(): these session handles may be someone else's now
        }
        return callOn(current, function, decrypting, body);
      } finally {
        callLock.unlock();
      }
    }
  }

  private void failIfHung() {
    if (hung.get()) {
      throw new DeviceLostException("token '" + label + "' is hung: a call did not return within "
          + poolConfig.callDeadline().toMillis() + " ms, and no probe has answered since", null, null);
    }
  }

  private <T> T callOn(Connection current, String function, boolean decrypting, SessionCall<T> body) {
    SessionPool.Pooled session;
    try {
      session = current.pool.acquire();
    } catch (PKCS11Exception e) {
      throw failure(current, e, "C_OpenSession", false);
    }
    session.watch.begin(function, poolConfig.callDeadline().toNanos());
    T result;
    try {
      result = body.call(session.session, current);
    } catch (PKCS11Exception e) {
      if (!session.watch.end()) {
        throw late(current, session, function);
      }
      Pkcs11Exception mapped = failure(current, e, function, decrypting);
      current.pool.release(session, Pkcs11Errors.breaksSession(e.getErrorCode(), decrypting, profile));
      throw mapped;
    } catch (RuntimeException | Error e) {
      if (!session.watch.end()) {
        throw late(current, session, function);
      }
      current.pool.release(session, true);
      throw e;
    }
    if (!session.watch.end()) {
      throw late(current, session, function);
    }
    current.pool.release(session, false);
    return result;
  }

  /**
   * A call that returned after the watchdog abandoned it: its caller has moved on, so its outcome is
   * dropped as if the process had died in the call, and its session is never used again.
   */
  private DeviceLostException late(Connection current, SessionPool.Pooled session, String function) {
    current.pool.discard(session);
    // The token answered after all: probe it now rather than at the next second, so that the caller's
    // own clean-up (a CreateKey destroying what its late C_GenerateKey made) can reach it at once.
    if (hung.get()) {
      probeOnce();
    }
    return new DeviceLostException(function + " on token '" + label + "' returned after its deadline of "
        + poolConfig.callDeadline().toMillis() + " ms; its outcome is dropped", null, null);
  }

  private Pkcs11Exception failure(Connection current, PKCS11Exception e, String function, boolean decrypting) {
    Pkcs11Exception mapped = Pkcs11Errors.translate(e, function, label, decrypting, profile);
    if (mapped instanceof DeviceLostException && connection.compareAndSet(current, null)) {
      current.close(); // under the call lock: its handles are still this generation's
      LOG.warn("token '{}' is lost ({}); the next call reconnects", label, mapped.returnValue().orElse("?"));
    }
    return mapped;
  }

  private Connection connection() {
    Connection current = connection.get();
    return current != null && current.generation == module.generation() ? current : connect();
  }

  /**
   * Opens the anchor session and logs in. Reconnecting after a loss, it re-initialises the library
   * once if the token cannot be reached otherwise.
   */
  private synchronized Connection connect() {
    checkState(!closed, "token '%s' is closed", label);
    if (loginPin == null) {
      throw new DeviceLostException("token '" + label + "' is not logged in yet", null, null);
    }
    Connection current = connection.get();
    if (current != null) {
      if (current.generation == module.generation()) {
        return current;
      }
      connection.compareAndSet(current, null);
      current.pool.abandon(); // died with the old C_Initialize; closing its handles could hit new sessions
    }
    Connection opened;
    if (!knownToExist) {
      opened = open();
    } else {
      long seen = module.generation();
      try {
        opened = open();
      } catch (DeviceLostException | TokenNotFoundException e) {
        if (module.anyTokenAnswers()) {
          // Only this token is gone: re-initialising would cut every other token's sessions.
          throw e instanceof DeviceLostException ? e
              : new DeviceLostException("token '" + label + "' is unreachable", null, e);
        }
        module.recover(seen);
        try {
          opened = open();
        } catch (TokenNotFoundException stillMissing) {
          throw new DeviceLostException("token '" + label + "' is still unreachable", null, stillMissing);
        }
      }
    }
    knownToExist = true;
    connection.set(opened);
    return opened;
  }

  private Connection open() {
    Lock callLock = module.callLock();
    callLock.lock();
    try {
      long generation = module.generation();
      Slot slot = module.findSlot(label).orElseThrow(() -> new TokenNotFoundException(
          "no token labelled '" + label + "' in " + module.library(), null, null));
      Session anchor = logInAnchor(slot);
      LOG.info("logged in to token '{}' (slot {}, {})", label, slot.getSlotID(), profile);
      return new Connection(generation, anchor, new SessionPool(this, slot.getToken(), label, poolConfig));
    } finally {
      callLock.unlock();
    }
  }

  /**
   * Opens the anchor session and logs in on it, watched like any call: a hung token would otherwise
   * keep a login (a connect, a reconnect) without end.
   */
  private Session logInAnchor(Slot slot) {
    CallWatchdog.Watch watch = CallWatchdog.instance().watch(this);
    watch.begin("C_OpenSession and C_Login", poolConfig.callDeadline().toNanos());
    Session anchor = null;
    try {
      anchor = slot.getToken().openSession(true);
      char[] pin = loginPin.copyChars();
      try {
        anchor.login(CKU_USER, pin);
      } catch (PKCS11Exception e) {
        if (e.getErrorCode() != CKR_USER_ALREADY_LOGGED_IN) {
          throw e;
        }
      } finally {
        Arrays.fill(pin, '\0');
      }
    } catch (PKCS11Exception e) {
      boolean unused = watch.end(); // late or not, the login failed
      if (anchor != null) {
        Connection.closeQuietly(anchor);
      }
      throw Pkcs11Errors.translate(e, anchor == null ? "C_OpenSession" : "C_Login", label, false, profile);
    } catch (RuntimeException e) {
      boolean unused = watch.end();
      if (anchor != null) {
        Connection.closeQuietly(anchor);
      }
      throw e;
    } finally {
      watch.close();
    }
    if (!watch.end()) {
      Connection.closeQuietly(anchor);
      throw new DeviceLostException("logging in to token '" + label + "' returned after its deadline of "
          + poolConfig.callDeadline().toMillis() + " ms", null, null);
    }
    return anchor;
  }

  private void checkUnique(long[] found, String what) {
    if (found.length > 1) {
      throw new TokenFailureException("token '" + label + "' holds several AES keys " + what, null, null);
    }
  }

  /** A logged-in anchor session, the pool, and the handle index, valid while both live. */
  final class Connection {
    /** The module's generation when this was opened; its handles mean nothing in another. */
    private final long generation;
    private final Session anchor;
    private final SessionPool pool;
    /**
     * Key to handle, for keys this connection has seen. An entry may outlive its object (destroyed by
     * another process, or by this one while an enumeration read it): the token then calls it invalid.
     */
    private final ConcurrentHashMap<AesKey, Long> handles = new ConcurrentHashMap<>();
    /** Whether an enumeration filled {@link #handles}, or one failed: either way, not tried again. */
    private volatile boolean indexed;
    /** Held while the index fills, so that the misses racing it wait instead of searching. */
    private final ReentrantLock indexing = new ReentrantLock();

    private Connection(long generation, Session anchor, SessionPool pool) {
      this.generation = generation;
      this.anchor = anchor;
      this.pool = pool;
    }

    /** The handle of {@code key}: from the index, else from a search of the token, then remembered. */
    long handleOf(AesKey key, Session session) throws PKCS11Exception {
      Long indexed = handles.get(key);
      if (indexed != null) {
        return indexed;
      }
      keySearches.incrementAndGet();
      long[] found = session.findObjectsSingle(
          AttributeVector.newAESSecretKey().label(key.label()).id(key.idUnsafe()), 2);
      if (found.length == 0) {
        throw new ObjectNotFoundException("no " + key + " on token '" + label + "'", null, null);
      }
      checkUnique(found, "named " + key);
      handles.put(key, found[0]);
      return found[0];
    }

    void remember(AesKey key, long handle) {
      handles.put(key, handle);
    }

    void forget(AesKey key) {
      handles.remove(key);
    }

    /**
     * The indexed key labelled {@code label} with its handle, if the index holds exactly one: a scan
     * of the index, some tens of microseconds at 10,000 keys, against a search of the token that
     * costs milliseconds.
     */
    Optional<Map.Entry<AesKey, Long>> indexed(String label) {
      Map.Entry<AesKey, Long> match = null;
      for (Map.Entry<AesKey, Long> entry : handles.entrySet()) {
        if (entry.getKey().label().equals(label)) {
          if (match != null) {
            return Optional.empty(); // two ids under one label: the search reports it
          }
          match = Map.entry(entry.getKey(), entry.getValue());
        }
      }
      return Optional.ofNullable(match);
    }

    private void close() {
      handles.clear();
      pool.close();
      closeQuietly(anchor);
    }

    private static void closeQuietly(Session session) {
      try {
        session.closeSession();
      } catch (PKCS11Exception e) {
        LOG.debug("closing the anchor session failed: {}", Pkcs11Errors.nameOf(e.getErrorCode()));
      }
    }
  }

  /** The handles one {@code C_FindObjects} found, and the connection they are valid on. */
  private record Found(Connection connection, long[] handles) {}

  /** Work on one session; may throw the wrapper's exception, which {@link #call} maps. */
  @FunctionalInterface
  interface SessionCall<T> {
    T call(Session session, Connection connection) throws PKCS11Exception;
  }

  /** Work with one key's handle on one session. */
  @FunctionalInterface
  interface KeyCall<T> {
    T call(Session session, long handle) throws PKCS11Exception;
  }
}
