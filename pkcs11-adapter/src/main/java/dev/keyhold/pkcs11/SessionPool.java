package dev.keyhold.pkcs11;

import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.Session;

/**
 * A bounded pool of read-write sessions on one token. A caller that finds every session busy waits up
 * to the configured timeout. Sessions open lazily; a session that saw an error which leaves its state
 * unknown is closed, never handed out again.
 *
 * <p>The pool does not log in: login state belongs to the application, and the owning {@link Token}
 * keeps it alive with a session of its own.
 *
 * <p>Each session carries the {@link CallWatchdog.Watch} of the calls made on it. A session whose
 * call the watchdog abandoned is {@linkplain #discard discarded}: its permit comes back only when its
 * call returns, so a hung token keeps at most its {@code maxSessions} callers.
 */
final class SessionPool implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SessionPool.class);

  private final org.xipki.pkcs11.wrapper.Token token;
  private final String label;
  private final SessionPoolConfig config;
  private final Semaphore permits;
  private final Token owner;
  private final ConcurrentLinkedDeque<Pooled> idle = new ConcurrentLinkedDeque<>();
  private volatile boolean closed;
  private volatile boolean abandoned;

  SessionPool(Token owner, org.xipki.pkcs11.wrapper.Token token, String label, SessionPoolConfig config) {
    this.owner = owner;
    this.token = token;
    this.label = label;
    this.config = config;
    // Not fair: a fair semaphore costs every call a queue check, and waiters are rare by design.
    this.permits = new Semaphore(config.maxSessions());
  }

  /**
   * A session for the caller's exclusive use until {@link #release}.
   *
   * @throws SessionsExhaustedException if none came free within the timeout
   */
  Pooled acquire() throws PKCS11Exception {
    boolean acquired;
    try {
      acquired = permits.tryAcquire(config.acquireTimeout().toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SessionsExhaustedException("interrupted while waiting for a session on token '" + label + "'", null, e);
    }
    if (!acquired) {
      throw new SessionsExhaustedException(
          "all " + config.maxSessions() + " sessions of token '" + label + "' stayed busy for "
              + config.acquireTimeout().toMillis() + " ms", null, null);
    }
    Pooled reused = idle.pollFirst();
    if (reused != null) {
      return reused;
    }
    // Opening is a call into the token like any other: a hung token may keep it, and the call it
    // opens for must be rescued like one that hangs in the token.
    CallWatchdog.Watch watch = CallWatchdog.instance().watch(owner);
    watch.begin("C_OpenSession", config.callDeadline().toNanos());
    Session opened;
    try {
      opened = token.openSession(true);
    } catch (PKCS11Exception | RuntimeException e) {
      boolean unused = watch.end(); // late or not, the call failed: nothing to drop
      watch.close();
      permits.release();
      throw e;
    }
    Pooled session = new Pooled(opened, watch);
    if (!watch.end()) {
      discard(session);
      throw new DeviceLostException("C_OpenSession on token '" + label + "' returned after its deadline of "
          + config.callDeadline().toMillis() + " ms", null, null);
    }
    return session;
  }

  /** Returns {@code session}; a {@code broken} one, or any after {@link #close}, is closed instead. */
  void release(Pooled session, boolean broken) {
    if (abandoned) {
      session.watch.close();
      permits.release();
      return;
    }
    if (broken || closed) {
      closeQuietly(session);
    } else {
      idle.offerFirst(session);
      if (closed && idle.remove(session)) { // close() ran meanwhile and missed this one
        closeQuietly(session);
      }
    }
    permits.release();
  }

  /**
   * Gives back the permit of a session whose call the watchdog abandoned, once the call returned: the
   * session, in a state nobody knows, is closed and never reused.
   */
  void discard(Pooled session) {
    closeQuietly(session);
    permits.release();
  }

  int idleSessions() {
    return idle.size();
  }

  /** A session of the pool and the watch on its calls. */
  static final class Pooled {
    final Session session;
    final CallWatchdog.Watch watch;

    private Pooled(Session session, CallWatchdog.Watch watch) {
      this.session = session;
      this.watch = watch;
    }
  }

  int sessionsInUse() {
    return config.maxSessions() - permits.availablePermits();
  }

  /** Closes the idle sessions now and the busy ones when they come back. */
  @Override
  public void close() {
    closed = true;
    for (Pooled session; (session = idle.pollFirst()) != null; ) {
      closeQuietly(session);
    }
  }

  /**
   * Forgets every session without {@code C_CloseSession}: after a new {@code C_Initialize} their
   * handle numbers may belong to new sessions of other tokens.
   */
  void abandon() {
    abandoned = true;
    closed = true;
    for (Pooled session; (session = idle.pollFirst()) != null; ) {
      session.watch.close();
    }
  }

  private void closeQuietly(Pooled session) {
    session.watch.close();
    try {
      session.session.closeSession();
    } catch (PKCS11Exception e) {
      LOG.debug("closing a session on token '{}' failed: {}", label, Pkcs11Errors.nameOf(e.getErrorCode()));
    }
  }
}
