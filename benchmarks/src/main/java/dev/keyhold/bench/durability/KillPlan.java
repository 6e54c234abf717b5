package dev.keyhold.bench.durability;

import static com.google.common.base.Preconditions.checkArgument;

import java.time.Duration;
import java.util.SplittableRandom;

/**
 * When each round of a crash loop kills the service, drawn from a seed so that a run's schedule can
 * be repeated (the service's own timing cannot). Most rounds kill under load, at a delay between
 * {@code minDelay} and {@code maxDelay} after the service began to serve, once a CreateKey is in
 * flight. Every {@code 1/afterRestartShare}-th round (from a drawn start) kills right after the
 * restart instead, before {@code minDelay}, while the service may still be rolling back what the last
 * crash interrupted: spread evenly, so that even a short run has some of both.
 */
final class KillPlan {
  /** Even a kill right after a restart leaves the new CreateKeys this long to get in. */
  static final double EARLIEST_SECONDS = 0.05;

  enum Kind {
    /** At the drawn delay, once a CreateKey is in flight. */
    UNDER_LOAD,
    /** At a short delay after the restart, whatever is in flight. */
    AFTER_RESTART
  }

  record Kill(Kind kind, Duration delay) {}

  private final SplittableRandom random;
  private final double minSeconds;
  private final double maxSeconds;
  private final double afterRestartShare;
  private final double phase;
  private int round;

  KillPlan(long seed, double minSeconds, double maxSeconds, double afterRestartShare) {
    checkArgument(EARLIEST_SECONDS < minSeconds && minSeconds <= maxSeconds,
        "the delays must satisfy %s < min <= max", EARLIEST_SECONDS);
    checkArgument(afterRestartShare >= 0 && afterRestartShare <= 1, "the share must be between 0 and 1");
    this.random = new SplittableRandom(seed);
    this.minSeconds = minSeconds;
    this.maxSeconds = maxSeconds;
    this.afterRestartShare = afterRestartShare;
    this.phase = random.nextDouble();
  }

  /** The kill of the next round. */
  Kill next() {
    // A round kills right after the restart when its share, added up, crosses a whole number.
    boolean early = Math.floor((round + 1 + phase) * afterRestartShare)
        > Math.floor((round + phase) * afterRestartShare);
    round++;
    double seconds = early
        ? random.nextDouble(EARLIEST_SECONDS, minSeconds)
        : random.nextDouble(minSeconds, Math.nextUp(maxSeconds));
    return new Kill(early ? Kind.AFTER_RESTART : Kind.UNDER_LOAD, Duration.ofNanos(Math.round(seconds * 1e9)));
  }
}
