package dev.keyhold.kms.keystore;

import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.pkcs11.CallWatchdog;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.RunnableScheduledFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One background thread for work that calls HSMs, which a hung HSM cannot stop: when the
 * {@link CallWatchdog} abandons a call on this thread, a new thread takes over the work still queued
 * and the periodic work, and the stuck thread is left to its call. Whatever the stuck task did is
 * left as a crash at that step would leave it, for the crash recovery of that work to settle.
 *
 * <p>Thread-safe.
 */
public final class HsmWorker implements Executor, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(HsmWorker.class);

  private final String name;
  private final AtomicInteger threads = new AtomicInteger();
  private final List<Periodic> periodic = new CopyOnWriteArrayList<>();
  private final AutoCloseable listening;
  private ScheduledExecutorService executor; // guarded by this
  private volatile Thread thread;

  /** A worker whose threads are named {@code name-1}, {@code name-2}, ...: a new number after each hang. */
  public HsmWorker(String name) {
    this.name = checkNotNull(name, "name");
    this.executor = newExecutor();
    this.listening = CallWatchdog.whenAbandoned(this::replaceIfStuck);
  }

  @Override
  public synchronized void execute(Runnable task) {
    executor.execute(task);
  }

  /** Runs {@code task} now, then {@code interval} after each run ends, until {@link #close}. */
  public synchronized void runEvery(Duration interval, Runnable task) {
    Periodic work = new Periodic(interval, task);
    periodic.add(work);
    work.scheduleOn(executor);
  }

  private synchronized void replaceIfStuck(Thread stuck) {
    if (stuck != thread || executor.isShutdown()) {
      return;
    }
    LOG.warn("{} is stuck in an HSM call past its deadline; its work goes on on a new thread", stuck.getName());
    ScheduledExecutorService old = executor;
    executor = newExecutor();
    periodic.forEach(work -> work.scheduleOn(executor));
    for (Runnable queued : old.shutdownNow()) {
      if (!(queued instanceof RunnableScheduledFuture<?> future && future.isPeriodic())) {
        executor.execute(queued);
      }
    }
  }

  /** Stops the work, waiting up to 30 s for a task under way (one stuck in an HSM is left to it). */
  @Override
  public void close() {
    ScheduledExecutorService last;
    synchronized (this) {
      try {
        listening.close();
      } catch (Exception e) {
        LOG.debug("{}: {}", name, e.toString());
      }
      last = executor;
      last.shutdownNow();
    }
    try {
      last.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private ScheduledExecutorService newExecutor() {
    return new ScheduledThreadPoolExecutor(1, runnable -> {
      Thread created = new Thread(runnable, name + "-" + threads.incrementAndGet());
      created.setDaemon(true);
      thread = created;
      return created;
    });
  }

  /** Work that runs every {@code interval}. */
  private record Periodic(Duration interval, Runnable task) {
    void scheduleOn(ScheduledExecutorService executor) {
      // The future is not needed: the task logs its own failures, and close() stops the executor.
      var unused = executor.scheduleWithFixedDelay(task, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }
  }
}
