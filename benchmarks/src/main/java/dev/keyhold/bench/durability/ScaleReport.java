package dev.keyhold.bench.durability;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * What a {@link CreateKeysAtScale} run measured and found. It passed when at least one key was
 * acknowledged and every acknowledged key was found whole, with an answer for each.
 *
 * @param latencies of the acknowledged CreateKeys, in nanoseconds
 */
record ScaleReport(int requested, int threads, int acknowledged, ErrorCounts errors, Duration creating,
    Histogram latencies, CreateKeysAtScale.Verification verification, Duration checking) {
  private static final int PROBLEMS_SHOWN = 20;

  long failed() {
    return errors.total();
  }

  long lost() {
    return verification.lost().size();
  }

  /** Acknowledged CreateKeys per second, over the whole creating phase. */
  double perSecond() {
    return acknowledged / (creating.toNanos() / 1e9);
  }

  double millisAt(double percentile) {
    return latencies.getValueAtPercentile(percentile) / 1e6;
  }

  boolean passed() {
    return acknowledged > 0 && lost() == 0 && verification.unanswered() == 0;
  }

  void print(PrintStream out) {
    out.println();
    out.printf(Locale.ROOT, "CreateKey at scale, %d threads%n", threads);
    out.printf(Locale.ROOT, "  keys requested:       %,d%n", requested);
    out.printf(Locale.ROOT, "  keys acknowledged:    %,d%n", acknowledged);
    out.printf(Locale.ROOT, "  keys failed:          %,d%s%n", failed(), failed() == 0 ? "" : " (" + errors + ")");
    out.printf(Locale.ROOT, "  elapsed:              %.1f s%n", creating.toNanos() / 1e9);
    out.printf(Locale.ROOT, "  CreateKey rate:       %.1f keys/s%n", perSecond());
    out.printf(Locale.ROOT, "  CreateKey latency:    p50 %.1f ms, p99 %.1f ms, max %.1f ms%n", millisAt(50),
        millisAt(99), latencies.getMaxValue() / 1e6);
    out.printf(Locale.ROOT, "  check (%.1f s):        %,d listed, %,d Enabled and encrypting, %,d unanswered%n",
        checking.toNanos() / 1e9, verification.listed(), verification.whole(), verification.unanswered());
    out.printf(Locale.ROOT, "  keys lost:            %,d%n", lost());
    verification.lost().entrySet().stream().limit(PROBLEMS_SHOWN)
        .forEach((Map.Entry<String, String> problem) -> out.println("  LOST: key " + problem.getKey() + ": "
            + problem.getValue()));
    if (lost() > PROBLEMS_SHOWN) {
      out.printf("  ... and %d more%n", lost() - PROBLEMS_SHOWN);
    }
    out.println(passed() ? "PASSED: every acknowledged key is listed, Enabled and encrypts" : "FAILED");
  }
}
