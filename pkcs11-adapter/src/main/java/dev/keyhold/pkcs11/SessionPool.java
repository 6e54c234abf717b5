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
 */
final class SessionPool implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SessionPool.class);

  private final org.xipki.pkcs11.wrapper.Token token;
  private final String label;
  private final SessionPoolConfig config;
  private final Semaphore permits;
  private final ConcurrentLinkedDeque<Session> idle = new ConcurrentLinkedDeque<>();
  private volatile boolean closed;
  private volatile boolean abandoned;

  SessionPool(org.xipki.pkcs11.wrapper.Token token, String label, SessionPoolConfig config) {
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
  Session acquire() throws PKCS11Exception {
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
    Session session = idle.pollFirst();
    if (session != null) {
      return session;
    }
    try {
      return token.openSession(true);
    } catch (PKCS11Exception | RuntimeException e) {
      permits.release();
      throw e;
    }
  }

  /** Returns {@code session}; a {@code broken} one, or any after {@link #close}, is closed instead. */
  void release(Session session, boolean broken) {
    if (abandoned) {
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

  int idleSessions() {
    return idle.size();
  }

  int sessionsInUse() {
    return config.maxSessions() - permits.availablePermits();
  }

  /** Closes the idle sessions now and the busy ones when they come back. */
  @Override
  public void close() {
    closed = true;
    for (Session session; (session = idle.pollFirst()) != null; ) {
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
    idle.clear();
  }

  private void closeQuietly(Session session) {
    try {
      session.closeSession();
    } catch (PKCS11Exception e) {
      LOG.debug("closing a session on token '{}' failed: {}", label, Pkcs11Errors.nameOf(e.getErrorCode()));
    }
  }
}
