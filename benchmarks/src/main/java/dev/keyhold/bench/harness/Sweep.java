package dev.keyhold.bench.harness;

import com.google.common.collect.ImmutableList;
import com.google.common.math.Quantiles;
import dev.keyhold.bench.LoadGenerator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import me.tongfei.progressbar.ProgressBar;

/**
 * Runs workloads over payload sizes and thread counts on one {@link LoadGenerator} (raw C's in its
 * own program, with the generator's warm-up and duration), a progress bar stepping once per measured run. Payloads are drawn from a generator seeded with the run's seed, so
 * two runs with one seed send the same bytes.
 *
 * <p>Each workload first runs unrecorded, with the most threads, in passes of the dry pass's length
 * until one passes with the JIT all but idle (under 2% of the pass's time compiling): without it the
 * first points of a route carried seconds of compilation (the SDK's, Apache's and Undertow's code for
 * http), at a quarter of their real rate, and a single fixed pass was not always enough.
 *
 * <p>A workload that fails (a route the token refuses, say SunPKCS11's GCM on CloudHSM, which wants
 * its own IVs) is recorded as failed, with its reason, for its remaining points, and the sweep goes on.
 */
final class Sweep {
  /** A dry pass with less compilation than this share of its time leaves the JIT's work done. */
  private static final double JIT_IDLE_SHARE = 0.02;
  /** Bounds the dry passes of one workload, for code that the JIT never stops recompiling. */
  private static final int MAX_DRY_PASSES = 10;

  private final Routes routes;
  private final LoadGenerator load;
  private final Duration dryPass;
  private final long seed;
  private final ProgressBar progress;

  Sweep(Routes routes, LoadGenerator load, Duration dryPass, long seed, ProgressBar progress) {
    this.routes = routes;
    this.load = load;
    this.dryPass = dryPass;
    this.seed = seed;
    this.progress = progress;
  }

  /** How many measured runs {@link #run} makes. */
  static int runs(List<Workload> workloads, List<Integer> payloads, List<Integer> threads) {
    return workloads.stream().mapToInt(workload -> workload.payloads(payloads).size() * threads.size()).sum();
  }

  /** How many measured runs {@link #compare} makes. */
  static int comparisonRuns(Workload a, Workload b, List<Integer> payloads, List<Integer> threads, int rounds) {
    return 2 * rounds * commonPayloads(a, b, payloads).size() * threads.size();
  }

  List<Results.Point> run(List<Workload> workloads, List<Integer> payloads, List<Integer> threadCounts)
      throws InterruptedException {
    List<Results.Point> points = new ArrayList<>();
    for (Workload workload : workloads) {
      List<Results.Point> measured = new ArrayList<>();
      try {
        measure(workload, payloads, threadCounts, measured);
      } catch (RuntimeException | ExecutionException e) {
        String failure = describe(e instanceof ExecutionException ? e.getCause() : e);
        int done = 0;
        for (int payloadBytes : workload.payloads(payloads)) {
          for (int threads : threadCounts) {
            if (++done > measured.size()) {
              measured.add(Results.Point.failed(workload, payloadBytes, threads, failure));
              progress.step();
            }
          }
        }
      }
      points.addAll(measured);
    }
    return points;
  }

  /** Measures every point of {@code workload} into {@code points}, in order, until one fails. */
  private void measure(Workload workload, List<Integer> payloads, List<Integer> threadCounts,
      List<Results.Point> points) throws InterruptedException, ExecutionException {
    boolean first = true;
    for (int payloadBytes : workload.payloads(payloads)) {
      Loop loop = workload.loop(routes, load, payload(payloadBytes));
      if (first) {
        dryRun(workload, loop, Collections.max(threadCounts));
        first = false;
      }
      for (int threads : threadCounts) {
        progress.setExtraMessage(workload.id() + " " + payloadBytes + " B x " + threads);
        points.add(Results.Point.measured(workload, payloadBytes, threads, loop.closedLoop(threads)));
        progress.step();
      }
    }
  }

  /**
   * Runs {@code a} and {@code b} in alternation at each payload and thread count, {@code rounds}
   * times; a failure ends the comparison, since a ratio with one side missing means nothing.
   */
  List<Results.Comparison> compare(Workload a, Workload b, List<Integer> payloads, List<Integer> threadCounts,
      int rounds) throws InterruptedException, ExecutionException {
    List<Results.Comparison> comparisons = new ArrayList<>();
    boolean dry = true;
    for (int payloadBytes : commonPayloads(a, b, payloads)) {
      byte[] payload = payload(payloadBytes);
      Loop loopA = a.loop(routes, load, payload);
      Loop loopB = b.loop(routes, load, payload);
      if (dry) {
        dryRun(a, loopA, Collections.max(threadCounts));
        dryRun(b, loopB, Collections.max(threadCounts));
        dry = false;
      }
      for (int threads : threadCounts) {
        List<Double> aRates = new ArrayList<>();
        List<Double> bRates = new ArrayList<>();
        List<Double> ratios = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
          progress.setExtraMessage(a.id() + " / " + b.id() + " " + payloadBytes + " B x " + threads
              + ", round " + round);
          aRates.add(loopA.closedLoop(threads).perSecond());
          progress.step();
          bRates.add(loopB.closedLoop(threads).perSecond());
          progress.step();
          ratios.add(bRates.get(bRates.size() - 1) / aRates.get(aRates.size() - 1));
        }
        comparisons.add(new Results.Comparison(a.id(), b.id(), payloadBytes, threads, aRates, bRates,
            Quantiles.median().compute(ratios), ratios.stream().mapToDouble(r -> r).min().orElseThrow(),
            ratios.stream().mapToDouble(r -> r).max().orElseThrow()));
      }
    }
    return comparisons;
  }

  private void dryRun(Workload workload, Loop loop, int threads) throws InterruptedException, ExecutionException {
    if (dryPass.isZero()) {
      return;
    }
    long idleEnough = Math.round(dryPass.toMillis() * JIT_IDLE_SHARE);
    for (int pass = 1; pass <= MAX_DRY_PASSES; pass++) {
      progress.setExtraMessage(workload.id() + ": dry pass " + pass);
      if (loop.unrecorded(threads, dryPass).jitMillis() <= idleEnough) {
        return;
      }
    }
  }

  private static ImmutableList<Integer> commonPayloads(Workload a, Workload b, List<Integer> payloads) {
    return a.payloads(payloads).stream().filter(b.payloads(payloads)::contains)
        .collect(ImmutableList.toImmutableList());
  }

  private byte[] payload(int length) {
    byte[] bytes = new byte[length];
    new SplittableRandom(seed + length).nextBytes(bytes);
    return bytes;
  }

  private static String describe(Throwable failure) {
    return failure.getClass().getSimpleName() + ": " + failure.getMessage();
  }
}
