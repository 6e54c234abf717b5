package dev.keyhold.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import org.HdrHistogram.Histogram;

/**
 * Calls one operation from several threads for a fixed time and records every call's latency in an
 * HdrHistogram (one per thread, merged at the end, so recording takes no lock), after a warm-up of
 * the same shape whose figures are thrown away. A call that throws ends the run with its exception:
 * a figure that silently counts errors would flatter the service.
 *
 * <p>Two schedules share one worker loop. In a {@linkplain #closedLoop closed loop} each thread calls
 * again as soon as its last call returns: that finds the peak rate. In an {@linkplain #openLoop open
 * loop} calls fall due at fixed intervals whatever the answers do, and each latency runs from when the
 * call fell due, not from when a thread got round to sending it. So a stall shows in full in every
 * call queued behind it, as a real population of clients would see it, where a closed loop would
 * simply stop asking during the stall and record one slow call (coordinated omission).
 *
 * <p>Each run also takes the CPU time of the calling threads, of the whole process and of the whole
 * machine (Linux's {@code /proc/stat}), and the JIT's compilation time: on a shared 2-core VM, what
 * other processes and the compiler took during a run says how far to trust its figures.
 */
public final class LoadGenerator implements AutoCloseable {
  /** Lets every thread reach the start line before the clock starts. */
  private static final long START_DELAY_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
  /** 0.1% resolution: finer than this VM's run-to-run noise by far. */
  private static final int SIGNIFICANT_DIGITS = 3;
  private static final Path PROC_STAT = Path.of("/proc/stat");
  private static final Path OWN_STAT = Path.of("/proc/self/stat");
  /** Linux's USER_HZ, the unit of {@code /proc/stat}: 100 on every architecture Keyhold runs on. */
  private static final long NANOS_PER_TICK = TimeUnit.SECONDS.toNanos(1) / 100;
  private static final CompilationMXBean JIT = ManagementFactory.getCompilationMXBean();
  /** The JIT's share of a warm-up run under which the compiler counts as quiet. */
  private static final double QUIET_JIT_SHARE = 0.02;
  /** How many warm-ups a run gets at most while the compiler is not quiet. */
  static final int MAX_WARM_UPS = 10;

  private final Duration warmUp;
  private final Duration duration;
  private final ExecutorService threads;
  private final ThreadMXBean threadCpu = ManagementFactory.getThreadMXBean();
  private final com.sun.management.OperatingSystemMXBean processCpu =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

  /**
   * Runs up to {@code maxThreads} callers; each measured run warms up for {@code warmUp}, then measures
   * for {@code duration}.
   */
  public LoadGenerator(int maxThreads, Duration warmUp, Duration duration) {
    this.warmUp = warmUp;
    this.duration = duration;
    AtomicInteger created = new AtomicInteger();
    this.threads = Executors.newFixedThreadPool(maxThreads, runnable -> {
      Thread thread = new Thread(runnable, "load-" + created.incrementAndGet());
      thread.setDaemon(true);
      return thread;
    });
  }

  /**
   * Waits, with no load, until the JIT has compiled nothing for a second, or {@code timeout} has
   * passed; returns how long it waited. Under load the compiler threads share the cores with every
   * caller and fall behind: its queue is drained faster, and out of the figures, here.
   */
  public static Duration awaitCompilerIdle(Duration timeout) throws InterruptedException {
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    long compiledBefore;
    do {
      compiledBefore = JIT.getTotalCompilationTime();
      TimeUnit.SECONDS.sleep(1);
    } while (JIT.getTotalCompilationTime() != compiledBefore && System.nanoTime() - deadline < 0);
    return Duration.ofNanos(System.nanoTime() - start);
  }

  /** Whether a run of {@code length} in which the JIT compiled for {@code jitMillis} left the compiler quiet. */
  static boolean jitQuiet(long jitMillis, Duration length) {
    return jitMillis < QUIET_JIT_SHARE * length.toMillis();
  }

  /** The JIT's compilation time since the JVM started, in milliseconds. */
  public static long compilationMillis() {
    return JIT.getTotalCompilationTime();
  }

  /** The warm-up before every measured run. */
  public Duration warmUp() {
    return warmUp;
  }

  /** The length of every measured run. */
  public Duration duration() {
    return duration;
  }

  /** {@code threads} threads, each calling {@code call} again as soon as the last call returns. */
  public Result closedLoop(int threads, Runnable call) throws InterruptedException, ExecutionException {
    run(threads, call, Schedule.AS_SOON_AS_FREE, warmUp);
    return run(threads, call, Schedule.AS_SOON_AS_FREE, duration);
  }

  /**
   * {@code threads} threads calling {@code call} for {@code length}, as {@link #closedLoop} does with no
   * warm-up: a pass whose figures are not meant to count, only its {@link Result#jitMillis}.
   */
  public Result unrecorded(int threads, Runnable call, Duration length)
      throws InterruptedException, ExecutionException {
    return run(threads, call, Schedule.AS_SOON_AS_FREE, length);
  }

  /**
   * {@code callsPerSecond} calls, evenly spaced, sent by whichever of {@code threads} threads is free;
   * enough threads let the schedule be kept while a few calls are slow, and when none is free the
   * calls that fall due wait, their wait counted in their latency. The warm-up is run again (up to
   * {@value #MAX_WARM_UPS} times) until the JIT is quiet in one.
   */
  Result openLoop(int threads, double callsPerSecond, Runnable call) throws InterruptedException, ExecutionException {
    double intervalNanos = TimeUnit.SECONDS.toNanos(1) / callsPerSecond;
    Schedule evenlySpaced = start -> {
      AtomicLong next = new AtomicLong();
      return () -> start + (long) (next.getAndIncrement() * intervalNanos);
    };
    // Warmed up until the compiler is quiet: a compilation on the measured run's cores is a tail it adds.
    for (int round = 0; round < MAX_WARM_UPS && !warmUp.isZero(); round++) {
      if (jitQuiet(run(threads, call, evenlySpaced, warmUp).jitMillis(), warmUp)) {
        break;
      }
    }
    return run(threads, call, evenlySpaced, duration);
  }

  @Override
  public void close() {
    threads.shutdownNow();
  }

  /** When each call falls due, from the first, for a run that starts at {@code start} ({@link System#nanoTime}). */
  private interface Schedule {
    Schedule AS_SOON_AS_FREE = start -> System::nanoTime;

    LongSupplier dueTimes(long start);
  }

  private Result run(int threadCount, Runnable call, Schedule schedule, Duration length)
      throws InterruptedException, ExecutionException {
    long windowStart = System.nanoTime();
    long processCpuBefore = processCpu.getProcessCpuTime();
    long machineBusyBefore = machineBusyNanos();
    long jitMillisBefore = JIT.getTotalCompilationTime();
    long start = windowStart + START_DELAY_NANOS;
    long end = start + length.toNanos();
    LongSupplier dueTimes = schedule.dueTimes(start);
    List<Future<Worker>> workers = new ArrayList<>();
    for (int i = 0; i < threadCount; i++) {
      workers.add(threads.submit(() -> work(call, dueTimes, start, end)));
    }
    Histogram latencies = new Histogram(SIGNIFICANT_DIGITS);
    long lastReturn = start;
    long callerCpuNanos = 0;
    for (Future<Worker> future : workers) {
      Worker worker = future.get();
      latencies.add(worker.latencies());
      lastReturn = Math.max(lastReturn, worker.lastReturn());
      callerCpuNanos += worker.cpuNanos();
    }
    long processCpuNanos = processCpu.getProcessCpuTime() - processCpuBefore;
    long othersCpuNanos = machineBusyNanos() - machineBusyBefore - processCpuNanos;
    long machineCpuNanos = (System.nanoTime() - windowStart) * Runtime.getRuntime().availableProcessors();
    return new Result(latencies, lastReturn - start, callerCpuNanos, processCpuNanos,
        Math.max(0, (double) othersCpuNanos / machineCpuNanos), JIT.getTotalCompilationTime() - jitMillisBefore);
  }

  private Worker work(Runnable call, LongSupplier dueTimes, long start, long end) {
    Histogram latencies = new Histogram(SIGNIFICANT_DIGITS);
    parkUntil(start);
    long cpuBefore = threadCpu.getCurrentThreadCpuTime();
    long lastReturn = start;
    for (long due = dueTimes.getAsLong(); due - end < 0; due = dueTimes.getAsLong()) {
      parkUntil(due);
      call.run();
      lastReturn = System.nanoTime();
      latencies.recordValue(lastReturn - due);
    }
    return new Worker(latencies, lastReturn, threadCpu.getCurrentThreadCpuTime() - cpuBefore);
  }

  private static void parkUntil(long nanoTime) {
    for (long wait = nanoTime - System.nanoTime(); wait > 0; wait = nanoTime - System.nanoTime()) {
      LockSupport.parkNanos(wait);
    }
  }

  /**
   * CPU time the machine's processors have spent busy since boot, any process's, steal included
   * (time the hypervisor gave to another guest): the first line of {@code /proc/stat} less idle and
   * iowait.
   */
  public static long machineBusyNanos() {
    String[] ticks;
    try {
      ticks = Files.readAllLines(PROC_STAT).get(0).trim().split("\\s+");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + PROC_STAT, e);
    }
    // cpu user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    long busy = 0;
    for (int field : new int[] {1, 2, 3, 6, 7, 8}) {
      busy += Long.parseLong(ticks[field]);
    }
    return busy * NANOS_PER_TICK;
  }

  /**
   * CPU time, user and system, of this process's child processes that have ended and been waited for
   * ({@code cutime} and {@code cstime} of Linux's {@code /proc/self/stat}): around a child's whole
   * life, its CPU time, to 10 ms.
   */
  public static long endedChildrenCpuNanos() {
    String stat;
    try {
      stat = Files.readString(OWN_STAT);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + OWN_STAT, e);
    }
    // The command name, in parentheses, may hold spaces; the fields after it start at field 3 (state).
    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return (Long.parseLong(fields[16 - 3]) + Long.parseLong(fields[17 - 3])) * NANOS_PER_TICK;
  }

  private record Worker(Histogram latencies, long lastReturn, long cpuNanos) {}

  /**
   * What one measured run saw.
   *
   * @param latencies every call's latency in nanoseconds
   * @param elapsedNanos from the start to the last call's return
   * @param callerCpuNanos CPU time of the calling threads: for calls over HTTP, the client's part
   * @param processCpuNanos CPU time of the whole process (callers, server, GC, JIT) over the run
   * @param othersCpuShare the share of the machine's CPU time that other processes (and other guests
   *     of the hypervisor) took over the run
   * @param jitMillis the JIT compilers' time over the run: far above zero, the code was not yet warm
   */
  public record Result(Histogram latencies, long elapsedNanos, long callerCpuNanos, long processCpuNanos,
      double othersCpuShare, long jitMillis) {
    public long calls() {
      return latencies.getTotalCount();
    }

    /** This run and {@code other} as one: calls, times and CPU added, the others' share weighted by time. */
    public Result plus(Result other) {
      Histogram both = latencies.copy();
      both.add(other.latencies);
      long elapsed = elapsedNanos + other.elapsedNanos;
      return new Result(both, elapsed, callerCpuNanos + other.callerCpuNanos, processCpuNanos + other.processCpuNanos,
          (othersCpuShare * elapsedNanos + other.othersCpuShare * other.elapsedNanos) / elapsed,
          jitMillis + other.jitMillis);
    }

    public double perSecond() {
      return calls() * (double) TimeUnit.SECONDS.toNanos(1) / elapsedNanos;
    }

    public double millisAt(double percentile) {
      return latencies.getValueAtPercentile(percentile) / (double) TimeUnit.MILLISECONDS.toNanos(1);
    }

    public double maxMillis() {
      return latencies.getMaxValue() / (double) TimeUnit.MILLISECONDS.toNanos(1);
    }

    /** CPU time of the whole process per call, in microseconds. */
    public double cpuMicrosPerCall() {
      return processCpuNanos / (double) TimeUnit.MICROSECONDS.toNanos(1) / calls();
    }

    /** CPU time of the calling threads per call, in microseconds. */
    public double callerCpuMicrosPerCall() {
      return callerCpuNanos / (double) TimeUnit.MICROSECONDS.toNanos(1) / calls();
    }
  }
}
