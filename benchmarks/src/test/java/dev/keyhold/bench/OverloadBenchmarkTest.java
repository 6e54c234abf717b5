package dev.keyhold.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code benchmarks/run-overload} in a few seconds, in a JVM of its own (SoftHSM2 takes its
 * configuration from the environment, once per process), against real SoftHSM2 tokens. Checks what
 * the run shows, never how fast: the noisy client was throttled and got nothing else, the quiet one was
 * served every call, and the report has a row per phase. The latencies are the long run's business.
 */
class OverloadBenchmarkTest {
  @TempDir
  Path work;

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void theNoisyClientIsThrottledAndTheQuietOneServed() throws Exception {
    Path home = work.resolve("home");
    Path results = work.resolve("overload.json");
    Path output = work.resolve("output.txt");
    BenchmarkProcess.Finished run = BenchmarkProcess.run(OverloadBenchmark.class,
        home.resolve("softhsm/softhsm2.conf"), output, 150, List.of("--home", home.toString(),
        "--module", SoftHsmClusterExtension.modulePath().toString(), "--quota", "50", "--quiet-rate", "20",
        "--noisy-threads", "4", "--rounds", "1", "--dry-pass", "0", "--warmup", "0.5", "--duration", "1",
        "--results", results.toString()));
    String printed = run.printed();

    // Exit 0: no quiet call failed (one would end the run) and report.problems() is empty.
    assertThat(run.exitValue()).as(printed).isZero();
    JsonNode report = JsonMapper.builder().build().readTree(results.toFile());
    assertThat(report.get("problems")).isEmpty();
    JsonNode rows = report.get("rows");
    assertThat(rows).extracting(row -> row.get("phase").asText()).containsExactly("ALONE", "HAMMERING", "RETRYING");
    for (JsonNode row : rows) {
      // 20 calls/s for 1 s: every call the open loop's schedule made was served.
      assertThat(row.get("quiet").get("calls").asLong()).as(row.toString()).isEqualTo(20);
      assertThat(row.get("noisyErrors")).as(row.toString()).isEmpty();
    }
    JsonNode alone = rows.get(0);
    JsonNode hammering = rows.get(1);
    JsonNode retrying = rows.get(2);
    assertThat(alone.get("noisyServedPerSecond").asDouble()).isZero();
    assertThat(alone.get("noisyThrottledPerSecond").asDouble()).isZero();
    assertThat(hammering.get("noisyThrottledPerSecond").asDouble()).as(hammering.toString()).isPositive();
    assertThat(hammering.get("noisyServedPerSecond").asDouble()).as(hammering.toString()).isPositive();
    assertThat(retrying.get("noisyServedPerSecond").asDouble()).as(retrying.toString()).isPositive();
    for (String phase : List.of("quiet alone", "noisy, no retries", "noisy, SDK retries")) {
      assertThat(printed).containsPattern("(?m)^\\| " + phase + " +\\|");
    }
    assertThat(printed).contains("quiet p99 beside the hammering noisy client / alone: ");
  }
}
