package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutated, signed requests of every operation ({@link FuzzCases}) against a whole Keyhold: none is
 * answered 5xx, with anything but an AWS KMS error or a success, or with a trace of Java, and the
 * service still encrypts afterwards.
 *
 * <p>{@value #DEFAULT_CASES} cases of seed {@value #DEFAULT_SEED} unless {@code -Dkeyhold.fuzz.seed},
 * {@code -Dkeyhold.fuzz.cases} and {@code -Dkeyhold.fuzz.first} say otherwise; a failure names its seed
 * and index, which {@code -Dkeyhold.fuzz.first=<index> -Dkeyhold.fuzz.cases=1} replays.
 * {@code benchmarks/run-fuzz} runs longer.
 */
class FuzzTest {
  private static final long DEFAULT_SEED = 15;
  private static final long DEFAULT_CASES = 4000;

  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  @TempDir static Path data;
  private static TestKeyhold keyhold;

  @BeforeAll
  static void start() throws InterruptedException {
    keyhold = TestKeyhold.start(softhsm, data, 0);
  }

  @AfterAll
  static void stop() {
    keyhold.close();
  }

  @Test
  void everyAnswerIsAnAwsAnswerAndTheServiceStillServes() throws Exception {
    long seed = Long.getLong("keyhold.fuzz.seed", DEFAULT_SEED);
    long first = Long.getLong("keyhold.fuzz.first", 0);
    long cases = Long.getLong("keyhold.fuzz.cases", DEFAULT_CASES);
    System.out.printf("FuzzTest: seed %d, cases %d to %d%n", seed, first, first + cases - 1);
    try (RequestFuzzer fuzzer =
        RequestFuzzer.prepare(keyhold.endpoint(), keyhold.admin, TestKeyhold.ACCOUNT.region())) {
      RequestFuzzer.Report report = fuzzer.run(seed, first, cases, Duration.ofDays(1), progress -> {});
      System.out.printf("FuzzTest: %d cases in %s (%.0f/s)%n%s%n", report.cases(), report.elapsed(),
          report.casesPerSecond(), report.outcomeTable());

      assertThat(report.failure()).isEmpty();
      assertThat(report.cases()).isEqualTo(cases);
      assertThat(fuzzer.stillServes()).isEmpty();
    }
    assertThat(keyhold.outcomes).allSatisfy(outcome -> assertThat(outcome.httpStatus()).isLessThan(500));
  }
}
