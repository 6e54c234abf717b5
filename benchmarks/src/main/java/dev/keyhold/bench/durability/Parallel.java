package dev.keyhold.bench.durability;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/** Runs work on a fixed number of threads of its own and waits for all of it. */
public final class Parallel {
  private Parallel() {}

  /** Calls {@code action} on every item, from {@code threads} threads; rethrows the first failure. */
  public static <T> void forEach(List<T> items, int threads, Consumer<T> action) throws InterruptedException {
    AtomicInteger next = new AtomicInteger();
    run(threads, "check", () -> {
      for (int i = next.getAndIncrement(); i < items.size(); i = next.getAndIncrement()) {
        action.accept(items.get(i));
      }
    });
  }

  /** Runs {@code work} on each of {@code threads} threads named {@code name-<n>}; rethrows the first failure. */
  public static void run(int threads, String name, Runnable work) throws InterruptedException {
    ExecutorService pool = pool(threads, name);
    try {
      List<Future<?>> running = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        running.add(pool.submit(work));
      }
      for (Future<?> future : running) {
        future.get();
      }
    } catch (ExecutionException e) {
      throw new IllegalStateException(name + " failed: " + e.getCause(), e.getCause());
    } finally {
      pool.shutdownNow();
    }
  }

  /** Daemon threads named {@code name-<n>}: a driver that fails must not hang on them. */
  static ExecutorService pool(int threads, String name) {
    AtomicInteger created = new AtomicInteger();
    return Executors.newFixedThreadPool(threads, runnable -> {
      Thread thread = new Thread(runnable, name + "-" + created.incrementAndGet());
      thread.setDaemon(true);
      return thread;
    });
  }
}
