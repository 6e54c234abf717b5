package dev.keyhold.bench;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code benchmarks/run-key-counts} at 4 and 10 keys, in a JVM of its own (SoftHSM2 takes its
 * configuration from the environment, once per process), against real SoftHSM2 tokens: every figure
 * the report promises is there, for every count, and counts what it should. How fast is the long
 * run's business.
 */
class KeyCountBenchmarkTest {
  private static final int COLD_CALLS = 20;
  private static final int SEARCHES = 5;

  @TempDir
  Path work;

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void reportsEveryFigureAtEveryKeyCount() throws Exception {
    Path results = work.resolve("key-counts");
    Path output = work.resolve("output.txt");
    BenchmarkProcess.Finished run = BenchmarkProcess.run(KeyCountBenchmark.class,
        work.resolve("softhsm/softhsm2.conf"), output, 100, List.of("4", "10",
        "--module", SoftHsmClusterExtension.modulePath().toString(), "--create-threads", "4", "--threads", "1,2",
        "--warmup", "0.1", "--duration", "0.3", "--cold-calls", Integer.toString(COLD_CALLS),
        "--searches", Integer.toString(SEARCHES), "--results", results.toString()));
    String printed = run.printed();
    assertThat(run.exitValue()).as(printed).isZero();

    JsonNode rows = JsonMapper.builder().build().readTree(results.resolveSibling("key-counts.json").toFile())
        .get("rows");
    assertThat(rows).extracting(row -> row.get("keys").asInt()).containsExactly(4, 10);
    // At 4 keys all of them are timed; at 10, the 6 created after the first 4.
    assertThat(rows).extracting(row -> row.get("createdInWindow").asInt()).containsExactly(4, 6);
    for (JsonNode row : rows) {
      assertThat(row.get("create").get("calls").asLong()).as(row.toString())
          .isEqualTo(row.get("createdInWindow").asLong());
      assertThat(row.get("create").get("perSecond").asDouble()).as(row.toString()).isPositive();
      for (String millis : List.of("disconnectMillis", "connectMillis")) {
        assertThat(row.get(millis).asDouble()).as(millis).isPositive();
      }
      assertThat(row.get("indexMillis").asDouble()).isNotNegative();
      assertThat(row.get("restartMillis")).hasSize(2).allSatisfy(restart -> assertThat(restart.asDouble()).isPositive());

      assertThat(row.get("warm")).extracting(warm -> warm.get("threads").asInt()).containsExactly(1, 2);
      for (JsonNode warm : row.get("warm")) {
        assertTimed(warm.get("encrypt"));
      }
      JsonNode afterRestart = row.get("afterRestart");
      assertTimed(afterRestart);
      assertThat(afterRestart.get("oneKey").get("calls").asInt()).isEqualTo(COLD_CALLS);
      assertThat(afterRestart.get("randomKeys").get("calls").asInt()).isEqualTo(COLD_CALLS);

      JsonNode raw = row.get("rawSearch");
      assertThat(raw.get("searches").asInt()).isEqualTo(SEARCHES);
      // The user sees the KMS keys' material and whatever else the cluster keeps on the token.
      assertThat(raw.get("objects").asLong()).isGreaterThanOrEqualTo(row.get("keys").asLong());
      for (String figure : List.of("initMillis", "loginMillis", "meanMicros", "p50Micros", "p99Micros",
          "oneKeyP50Micros", "oneKeyP99Micros", "randomKeysP50Micros", "randomKeysP99Micros")) {
        assertThat(raw.get(figure).asDouble()).as(figure).isPositive();
      }
      assertThat(raw.get("keys").asLong()).as("raw C encrypts on every key of the store").isEqualTo(row.get("keys").asLong());
    }

    List<String> csv = Files.readAllLines(results.resolveSibling("key-counts.csv"), UTF_8);
    assertThat(csv).hasSize(3);
    int columns = csv.get(0).split(",").length;
    assertThat(csv).allSatisfy(line -> assertThat(line.split(",")).hasSize(columns));
    assertThat(csv.get(0)).contains("create_per_s", "restart_connect_ms", "warm_2t_random_p99_ms",
        "restart_random_p50_ms", "raw_search_mean_us", "raw_encrypt_random_p50_us");
    assertThat(printed).contains("| 10 | warm | 2 |", "| 10 | after restart | 1 |", "| 10 | raw C, warm | 1 |");
  }

  /** Both sides of a one-key against random-keys comparison made calls and timed them. */
  private static void assertTimed(JsonNode oneAgainstRandom) {
    for (String side : List.of("oneKey", "randomKeys")) {
      JsonNode latency = oneAgainstRandom.get(side);
      assertThat(latency.get("calls").asLong()).as(side).isPositive();
      assertThat(latency.get("p50Millis").asDouble()).as(side).isPositive();
      assertThat(latency.get("p99Millis").asDouble()).as(side)
          .isGreaterThanOrEqualTo(latency.get("p50Millis").asDouble());
    }
  }
}
