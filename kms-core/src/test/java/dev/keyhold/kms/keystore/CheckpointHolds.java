package dev.keyhold.kms.keystore;

import dev.keyhold.kms.metadata.Checkpoints;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Checkpoints that stop the first thread to reach a chosen step until the test lets it go, so that
 * two pieces of work can be interleaved at exactly that point, deterministically.
 */
public final class CheckpointHolds implements Checkpoints {
  private static final Duration PATIENCE = Duration.ofSeconds(60);
  private final List<Hold> holds = new CopyOnWriteArrayList<>();

  /** Holds the first thread that reaches a step starting with {@code stepPrefix}. */
  public Hold hold(String stepPrefix) {
    Hold hold = new Hold(stepPrefix);
    holds.add(hold);
    return hold;
  }

  @Override
  public void reached(String step) {
    for (Hold hold : holds) {
      if (step.startsWith(hold.stepPrefix) && hold.reached.getCount() > 0) {
        hold.reached.countDown();
        hold.awaitRelease();
        return;
      }
    }
  }

  /** One step at which one thread stops. */
  public static final class Hold {
    private final String stepPrefix;
    private final CountDownLatch reached = new CountDownLatch(1);
    private final CountDownLatch released = new CountDownLatch(1);

    private Hold(String stepPrefix) {
      this.stepPrefix = stepPrefix;
    }

    /** Waits until a thread stops here. */
    public void awaitReached() throws InterruptedException {
      if (!reached.await(PATIENCE.toSeconds(), TimeUnit.SECONDS)) {
        throw new AssertionError("no thread reached " + stepPrefix);
      }
    }

    public void release() {
      released.countDown();
    }

    private void awaitRelease() {
      try {
        if (!released.await(PATIENCE.toSeconds(), TimeUnit.SECONDS)) {
          throw new AssertionError("the test never released " + stepPrefix);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while held at " + stepPrefix, e);
      }
    }
  }
}
