package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkNotNull;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices token calls that run past their deadline, for the whole process.
 *
 * <p>A PKCS#11 call cannot be interrupted, so a library that hangs keeps its caller. Running every
 * call on a thread of its own, to wait for it with a timeout, would cost every call a hand-off; so
 * the caller makes the call itself, on a session that carries a {@link Watch}, and one daemon thread
 * looks at the watches every {@value #TICK_MILLIS} ms. A call past its deadline is abandoned: its
 * session is never reused, its token is {@linkplain Token#isHung() hung} (every call fails at once
 * with {@link DeviceLostException} until a probe of the token answers), and the listeners learn which
 * thread is stuck, so that the work it was doing can be done by another thread. When the call returns
 * after all, it fails with {@link DeviceLostException}: whatever it did is left for its caller's
 * crash recovery to find, as if the process had died there.
 *
 * <p>A hung token gets no new call, so the threads a hang keeps are at most the calls in flight on
 * that token when it hung, which its session pool bounds, plus one probe at a time.
 *
 * <p>Thread-safe.
 */
public final class CallWatchdog {
  private static final Logger LOG = LoggerFactory.getLogger(CallWatchdog.class);
  private static final long TICK_MILLIS = 25;
  private static final CallWatchdog INSTANCE = new CallWatchdog();

  private final Set<Watch> watches = ConcurrentHashMap.newKeySet();
  private final List<Consumer<Thread>> listeners = new CopyOnWriteArrayList<>();
  private final AtomicInteger stuck = new AtomicInteger();

  private CallWatchdog() {
    Thread thread = new Thread(this::run, "keyhold-call-watchdog");
    thread.setDaemon(true);
    thread.start();
  }

  static CallWatchdog instance() {
    return INSTANCE;
  }

  /**
   * Runs {@code listener}, on the watchdog's thread, with each thread whose token call passed its
   * deadline and was abandoned; the listener must hand any real work to a thread of its own.
   *
   * @return closing it removes the listener
   */
  public static AutoCloseable whenAbandoned(Consumer<Thread> listener) {
    checkNotNull(listener, "listener");
    INSTANCE.listeners.add(listener);
    return () -> INSTANCE.listeners.remove(listener);
  }

  /** Threads that are in token calls abandoned at their deadline now: those a hung library keeps. */
  public static int stuckCalls() {
    return INSTANCE.stuck.get();
  }

  /** A new watch on calls into {@code token}, seen by the watchdog until {@link Watch#close}. */
  Watch watch(Token token) {
    Watch watch = new Watch(token);
    watches.add(watch);
    return watch;
  }

  private void run() {
    while (true) {
      try {
        TimeUnit.MILLISECONDS.sleep(TICK_MILLIS);
        long now = System.nanoTime();
        for (Watch watch : watches) {
          if (watch.isPastDeadline(now) && watch.abandon()) {
            abandoned(watch);
          }
        }
      } catch (InterruptedException e) {
        return; // a daemon of the process: only its end interrupts it
      } catch (RuntimeException e) {
        LOG.error("call watchdog: {}", e.toString(), e);
      }
    }
  }

  private void abandoned(Watch watch) {
    stuck.incrementAndGet();
    Thread caller = watch.caller;
    LOG.warn("{} on token '{}' did not return within its deadline; abandoned, the token is hung until a probe "
        + "answers (thread {})", watch.function, watch.token.label(), caller.getName());
    watch.token.hung();
    for (Consumer<Thread> listener : listeners) {
      try {
        listener.accept(caller);
      } catch (RuntimeException e) {
        LOG.warn("a listener of abandoned calls failed: {}", e.toString());
      }
    }
  }

  /**
   * One session's (or one probe's) call in flight, if any. Starting and ending a call costs its caller
   * one volatile write and one compare-and-set, and allocates nothing.
   */
  final class Watch implements AutoCloseable {
    private static final int IDLE = 0;
    private static final int RUNNING = 1;
    private static final int ABANDONED = 2;

    private final Token token;
    private final AtomicInteger state = new AtomicInteger(IDLE);
    // Written before the volatile write of state that starts a call, and read after reading it: the
    // state publishes them, so a call costs one volatile write and one compare-and-set.
    private long deadline;
    private Thread caller;
    private String function;

    private Watch(Token token) {
      this.token = token;
    }

    /** Marks a call of {@code function} by this thread as started, due within {@code deadlineNanos}. */
    void begin(String function, long deadlineNanos) {
      this.function = function;
      this.caller = Thread.currentThread();
      this.deadline = System.nanoTime() + deadlineNanos;
      state.set(RUNNING);
    }

    /**
     * Marks the call as returned.
     *
     * @return false if the watchdog abandoned it meanwhile: its outcome must not be used, and the
     *     session it ran on must never be used again
     */
    boolean end() {
      if (state.compareAndSet(RUNNING, IDLE)) {
        return true;
      }
      stuck.decrementAndGet();
      watches.remove(this);
      return false;
    }

    private boolean isPastDeadline(long now) {
      return state.get() == RUNNING && now - deadline > 0;
    }

    private boolean abandon() {
      return state.compareAndSet(RUNNING, ABANDONED);
    }

    /** Stops watching: the session is closed. */
    @Override
    public void close() {
      watches.remove(this);
    }
  }
}
