package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.time.Duration;

/**
 * Size of a token's session pool and how long a caller waits for a free session.
 *
 * <p>AWS CloudHSM allows 1,024 sessions per application; SoftHSM2 serialises most work, so a few
 * sessions per core are plenty there.
 */
public final class SessionPoolConfig {
  private final int maxSessions;
  private final Duration acquireTimeout;

  private SessionPoolConfig(int maxSessions, Duration acquireTimeout) {
    this.maxSessions = maxSessions;
    this.acquireTimeout = acquireTimeout;
  }

  public static SessionPoolConfig of(int maxSessions, Duration acquireTimeout) {
    checkArgument(maxSessions > 0, "maxSessions must be positive: %s", maxSessions);
    checkNotNull(acquireTimeout, "acquireTimeout");
    checkArgument(!acquireTimeout.isNegative(), "acquireTimeout must not be negative: %s", acquireTimeout);
    return new SessionPoolConfig(maxSessions, acquireTimeout);
  }

  /** Four sessions per processor, waiting up to five seconds. */
  public static SessionPoolConfig defaults() {
    return of(4 * Runtime.getRuntime().availableProcessors(), Duration.ofSeconds(5));
  }

  public int maxSessions() {
    return maxSessions;
  }

  public Duration acquireTimeout() {
    return acquireTimeout;
  }

  @Override
  public String toString() {
    return "SessionPoolConfig[maxSessions=" + maxSessions + ", acquireTimeout=" + acquireTimeout + "]";
  }
}
