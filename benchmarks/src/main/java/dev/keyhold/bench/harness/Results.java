package dev.keyhold.bench.harness;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.google.common.collect.ImmutableList;
import dev.keyhold.bench.LoadGenerator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What a run of {@code keyhold-bench} found, as written to {@code results.json}: where it ran, how, and
 * one {@link Point} per workload, payload and thread count, with the {@link Comparison}s of
 * {@code --compare}.
 */
record Results(RunInfo run, List<Point> points, List<Comparison> comparisons) {
  Results {
    points = ImmutableList.copyOf(points);
    comparisons = ImmutableList.copyOf(comparisons);
  }

  /**
   * One measured point; latencies in microseconds, from the call to its return, every call counted.
   *
   * @param payloadBytes plaintext (or random, or data key) bytes per call; 0 where the call takes none
   * @param mbPerSecond payload bytes per second, in 10^6 bytes
   * @param cpuMicrosPerOp the process's CPU time per call: callers, JNI, the token library, GC, JIT;
   *     over HTTP to the embedded Keyhold, the server's part too
   * @param othersCpuShare the share of the machine's CPU that other processes took meanwhile: far
   *     above zero, the point was measured on a busy machine
   * @param jitMillis the JIT compilers' time during the point: far above zero, the code was not yet warm
   * @param ofRawC {@code opsPerSecond} over raw C's at the same payload and threads, for the same token
   *     call ({@link Workload#rawCounterpart}); null where raw C did not measure that point
   * @param error why the point could not be measured; empty when it was
   */
  @JsonPropertyOrder({"workload", "route", "payloadBytes", "threads", "operations", "seconds", "opsPerSecond",
      "mbPerSecond", "p50Micros", "p99Micros", "p999Micros", "maxMicros", "cpuMicrosPerOp", "othersCpuShare",
      "jitMillis", "ofRawC", "error"})
  record Point(String workload, String route, int payloadBytes, int threads, long operations, double seconds,
      double opsPerSecond, double mbPerSecond, double p50Micros, double p99Micros, double p999Micros,
      double maxMicros, double cpuMicrosPerOp, double othersCpuShare, long jitMillis, Double ofRawC,
      String error) {
    static Point measured(Workload workload, int payloadBytes, int threads, LoadGenerator.Result result) {
      double opsPerSecond = result.perSecond();
      return new Point(workload.id(), workload.route().id(), payloadBytes, threads, result.calls(),
          result.elapsedNanos() / (double) TimeUnit.SECONDS.toNanos(1), opsPerSecond,
          opsPerSecond * payloadBytes / 1e6, micros(result, 50), micros(result, 99), micros(result, 99.9),
          result.latencies().getMaxValue() / 1e3, result.cpuMicrosPerCall(), result.othersCpuShare(),
          result.jitMillis(), null, "");
    }

    static Point failed(Workload workload, int payloadBytes, int threads, String error) {
      return new Point(workload.id(), workload.route().id(), payloadBytes, threads, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
          null, error);
    }

    Point withOfRawC(Double share) {
      return new Point(workload, route, payloadBytes, threads, operations, seconds, opsPerSecond, mbPerSecond,
          p50Micros, p99Micros, p999Micros, maxMicros, cpuMicrosPerOp, othersCpuShare, jitMillis, share, error);
    }

    private static double micros(LoadGenerator.Result result, double percentile) {
      return result.latencies().getValueAtPercentile(percentile) / 1e3;
    }
  }

  /**
   * {@code points} with {@link Point#ofRawC} filled in wherever raw C measured the same token call at
   * the same payload and thread count.
   */
  static List<Point> againstRawC(List<Point> points) {
    return points.stream().map(point -> point.withOfRawC(Workload.of(point.workload()).rawCounterpart()
            .flatMap(raw -> points.stream()
                .filter(other -> other.workload().equals(raw) && other.payloadBytes() == point.payloadBytes()
                    && other.threads() == point.threads() && other.error().isEmpty())
                .findFirst())
            .filter(raw -> point.error().isEmpty())
            .map(raw -> point.opsPerSecond() / raw.opsPerSecond())
            .orElse(null)))
        .collect(ImmutableList.toImmutableList());
  }

  /**
   * Two workloads run in alternation at one payload and thread count, A then B, {@code rounds} times:
   * a noisy minute slows both, so their ratio holds where each figure alone would not.
   *
   * @param ratio the median over rounds of B's ops/s over A's in the same round
   */
  record Comparison(String a, String b, int payloadBytes, int threads, List<Double> aOpsPerSecond,
      List<Double> bOpsPerSecond, double ratio, double ratioMin, double ratioMax) {
    Comparison {
      aOpsPerSecond = ImmutableList.copyOf(aOpsPerSecond);
      bOpsPerSecond = ImmutableList.copyOf(bOpsPerSecond);
    }
  }
}
