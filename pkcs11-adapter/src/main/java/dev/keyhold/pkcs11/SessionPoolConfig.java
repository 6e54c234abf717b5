package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.time.Duration;

/**
 * Size of a token's session pool, how long a caller waits for a free session, and the deadline of
 * each call on a session ({@link CallWatchdog}).
 *
 * <p>AWS CloudHSM allows 1,024 sessions per application; SoftHSM2 serialises most work, so a few
 * sessions per core are plenty there.
 */
public final class SessionPoolConfig {
  private final int maxSessions;
  private final Duration acquireTimeout;
  private final Duration callDeadline;

  /**
   * The deadline of a call unless said otherwise: far above any call a working HSM makes (SoftHSM2's
   * slowest, a {@code C_FindObjects} over 10,000 keys, takes about 300 ms), short enough that a
   * caller whose HSM hangs is answered by another within a few seconds.
   */
  public static final Duration DEFAULT_CALL_DEADLINE = Duration.ofSeconds(3);

  private SessionPoolConfig(int maxSessions, Duration acquireTimeout, Duration callDeadline) {
    this.maxSessions = maxSessions;
    this.acquireTimeout = acquireTimeout;
    this.callDeadline = callDeadline;
  }

  public static SessionPoolConfig of(int maxSessions, Duration acquireTimeout) {
    checkArgument(maxSessions > 0, "maxSessions must be positive: %s", maxSessions);
    checkNotNull(acquireTimeout, "acquireTimeout");
    checkArgument(!acquireTimeout.isNegative(), "acquireTimeout must not be negative: %s", acquireTimeout);
    return new SessionPoolConfig(maxSessions, acquireTimeout, DEFAULT_CALL_DEADLINE);
  }

  /** This configuration with calls abandoned {@code deadline} after they start. */
  public SessionPoolConfig withCallDeadline(Duration deadline) {
    checkNotNull(deadline, "deadline");
    checkArgument(deadline.compareTo(Duration.ofMillis(100)) >= 0, "callDeadline must be at least 100 ms: %s",
        deadline);
    return new SessionPoolConfig(maxSessions, acquireTimeout, deadline);
  }

  /** Four sessions per processor, waiting up to five seconds, calls due within {@link #DEFAULT_CALL_DEADLINE}. */
  public static SessionPoolConfig defaults() {
    return of(4 * Runtime.getRuntime().availableProcessors(), Duration.ofSeconds(5));
  }

  public int maxSessions() {
    return maxSessions;
  }

  public Duration acquireTimeout() {
    return acquireTimeout;
  }

  public Duration callDeadline() {
    return callDeadline;
  }

  @Override
  public String toString() {
    return "SessionPoolConfig[maxSessions=" + maxSessions + ", acquireTimeout=" + acquireTimeout
        + ", callDeadline=" + callDeadline + "]";
  }
}
