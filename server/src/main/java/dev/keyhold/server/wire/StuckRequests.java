package dev.keyhold.server.wire;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.keyhold.pkcs11.CallWatchdog;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The requests being answered now, each by the worker thread answering it, so that a request whose
 * thread a hung HSM keeps past the call deadline is answered by another thread.
 *
 * <p>A PKCS#11 call cannot be interrupted: the {@link CallWatchdog} abandons it at its deadline and
 * names its thread. If that thread is answering a request, the request's rescue runs on a thread of
 * this class (at most {@value #RESCUERS}): it answers instead, and the stuck thread, if its call
 * ever returns, answers nothing. Exactly one of the two answers: each claims the request first.
 *
 * <p>Thread-safe.
 */
final class StuckRequests implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(StuckRequests.class);
  /** More than one hung HSM's worth of session pools; beyond it, rescues queue. */
  private static final int RESCUERS = 64;

  private final ConcurrentHashMap<Thread, Running> byThread = new ConcurrentHashMap<>();
  private final ExecutorService rescuers = new ThreadPoolExecutor(RESCUERS, RESCUERS, 30, TimeUnit.SECONDS,
      new LinkedBlockingQueue<>(), new ThreadFactoryBuilder().setNameFormat("keyhold-rescue-%d").setDaemon(true).build());
  private final AutoCloseable listening;

  StuckRequests() {
    ((ThreadPoolExecutor) rescuers).allowCoreThreadTimeOut(true);
    listening = CallWatchdog.whenAbandoned(this::rescue);
  }

  /** A request the calling thread answers, and {@code rescue}, which answers it if the thread gets stuck. */
  Running enter(Runnable rescue) {
    Running running = new Running(rescue);
    byThread.put(Thread.currentThread(), running);
    return running;
  }

  /**
   * The calling thread is done with {@code running}.
   *
   * @return whether it answers it: false when a rescue has taken it over
   */
  boolean leave(Running running) {
    byThread.remove(Thread.currentThread(), running);
    return running.claim();
  }

  private void rescue(Thread stuck) {
    Running running = byThread.remove(stuck);
    if (running != null && running.claim()) {
      LOG.warn("thread {} is stuck in an HSM call past its deadline; its request is answered by another thread",
          stuck.getName());
      rescuers.execute(running.rescue);
    }
  }

  @Override
  public void close() throws Exception {
    listening.close();
    rescuers.shutdown();
  }

  /** One request in flight; claimed once, by the thread that answers it. */
  static final class Running {
    private final Runnable rescue;
    private final AtomicBoolean claimed = new AtomicBoolean();

    private Running(Runnable rescue) {
      this.rescue = rescue;
    }

    private boolean claim() {
      return claimed.compareAndSet(false, true);
    }
  }
}
