package dev.keyhold.bench.harness;

import dev.keyhold.bench.LoadGenerator;
import java.time.Duration;
import java.util.concurrent.ExecutionException;

/**
 * One workload at one payload size, ready to run at any thread count: as calls on a
 * {@link LoadGenerator}'s threads in this JVM, or by the raw C program in a process of its own. Either
 * way a run's figures come back as one {@link LoadGenerator.Result}.
 */
interface Loop {
  /** {@code threads} callers in a closed loop: the run's warm-up, not recorded, then its measured duration. */
  LoadGenerator.Result closedLoop(int threads) throws InterruptedException, ExecutionException;

  /** {@code threads} callers in a closed loop for {@code length}, no warm-up: a pass not meant to count. */
  LoadGenerator.Result unrecorded(int threads, Duration length) throws InterruptedException, ExecutionException;

  /** {@code call}, made by {@code load}'s threads. */
  static Loop inJvm(LoadGenerator load, Runnable call) {
    return new Loop() {
      @Override
      public LoadGenerator.Result closedLoop(int threads) throws InterruptedException, ExecutionException {
        return load.closedLoop(threads, call);
      }

      @Override
      public LoadGenerator.Result unrecorded(int threads, Duration length)
          throws InterruptedException, ExecutionException {
        return load.unrecorded(threads, call, length);
      }
    };
  }
}
