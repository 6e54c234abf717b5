package dev.keyhold.server.quota;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.base.Ticker;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A token bucket that never blocks: {@link #tryAcquire()} takes a token if there is one and says
 * whether it did. It refills at {@code ratePerSecond} and holds one second's worth of tokens (at least
 * one), so that a caller idle for a second may spend a second's quota at once.
 *
 * <p>Kept as the generic cell rate algorithm: one {@code long}, the moment at which the bucket would
 * be full again ("theoretical arrival time"). A request is admitted when that moment, pushed on by one
 * request's interval, lies at most the bucket's depth ahead of now. This is the token bucket itself,
 * not an approximation, and it costs one read and one compare-and-set, no lock and no allocation.
 * An infinite rate admits everything without touching the counter.
 */
public final class TokenBucket {
  private static final long NANOS_PER_SECOND = 1_000_000_000L;

  private final Ticker ticker;
  /** Nanoseconds one token takes to refill; 0 for an infinite rate. */
  private final long interval;
  /** How far ahead of now the full moment may lie: the bucket's depth less one token. */
  private final long tolerance;
  private final AtomicLong fullAt;

  /**
   * @param ratePerSecond tokens added per second: positive, fractions allowed (0.25 is one token every
   *     4 s), {@link Double#POSITIVE_INFINITY} for a bucket that admits everything
   */
  public TokenBucket(double ratePerSecond, Ticker ticker) {
    checkArgument(ratePerSecond > 0, "a rate must be positive: %s", ratePerSecond);
    this.ticker = checkNotNull(ticker, "ticker");
    this.interval = Double.isInfinite(ratePerSecond) ? 0 : Math.max(1, (long) (NANOS_PER_SECOND / ratePerSecond));
    long depth = Math.max(1, (long) ratePerSecond); // an infinite rate: interval 0, so tolerance 0
    this.tolerance = (depth - 1) * interval;
    this.fullAt = new AtomicLong(ticker.read());
  }

  /** Takes a token if the bucket holds one; never waits. */
  public boolean tryAcquire() {
    if (interval == 0) {
      return true;
    }
    long now = ticker.read();
    while (true) {
      long full = fullAt.get();
      // Differences, not comparisons, of nanoTime values: they may wrap.
      long next = (full - now < 0 ? now : full) + interval;
      if (next - now > tolerance + interval) {
        return false;
      }
      if (fullAt.compareAndSet(full, next)) {
        return true;
      }
    }
  }
}
