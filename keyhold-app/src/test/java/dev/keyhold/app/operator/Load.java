package dev.keyhold.app.operator;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToIntFunction;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * Calls on nodes from several threads until stopped, counting the calls answered and keeping every
 * failure: the load of the drills.
 */
final class Load {
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final AtomicInteger calls = new AtomicInteger();
  private final List<String> failures = new ArrayList<>();
  private final ExecutorService threads;
  private final List<Future<?>> started = new ArrayList<>();

  /**
   * Starts {@code threads} threads, spread over {@code clients} in turn, each running {@code round}
   * again and again; a round answers how many calls it made.
   */
  Load(List<KmsClient> clients, int threads, ToIntFunction<KmsClient> round) {
    this.threads = Executors.newFixedThreadPool(threads);
    for (int t = 0; t < threads; t++) {
      KmsClient client = clients.get(t % clients.size());
      started.add(this.threads.submit(() -> {
        while (running.get()) {
          try {
            calls.addAndGet(round.applyAsInt(client));
          } catch (RuntimeException e) {
            synchronized (failures) {
              failures.add(e.toString());
            }
          }
        }
      }));
    }
  }

  int calls() {
    return calls.get();
  }

  /** Stops the threads, waits for their last round, and answers the failures seen. */
  List<String> stop() throws Exception {
    running.set(false);
    for (Future<?> thread : started) {
      thread.get(30, TimeUnit.SECONDS);
    }
    threads.shutdown();
    synchronized (failures) {
      return List.copyOf(failures);
    }
  }
}
