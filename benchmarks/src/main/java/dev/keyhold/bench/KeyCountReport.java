package dev.keyhold.bench;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.HdrHistogram.Histogram;

/**
 * What {@link KeyCountBenchmark} found: a table on the console, and the same figures as
 * {@code PREFIX.csv} (one row per key count) and {@code PREFIX.json} (with the machine and settings).
 *
 * @param rows one per key count, in the order run
 */
record KeyCountReport(HttpKmsReport.Machine machine, Settings settings, String library, List<Row> rows) {
  private static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  /**
   * How the run was made.
   *
   * @param createThreads the threads that grow the store with CreateKey
   * @param threads the thread counts of the warm Encrypt runs
   * @param warmUpSeconds the unrecorded pass before each warm Encrypt run
   * @param durationSeconds the length of each warm Encrypt run
   * @param coldCalls the calls timed right after each restart
   * @param searches the raw C searches at each key count
   */
  record Settings(int createThreads, List<Integer> threads, double warmUpSeconds, double durationSeconds,
      int coldCalls, int searches) {}

  /**
   * Latencies of a run, in milliseconds.
   *
   * @param perSecond calls over the time from the first call to the last return
   */
  record Latency(long calls, double perSecond, double p50Millis, double p99Millis, double maxMillis) {
    static Latency of(LoadGenerator.Result result) {
      return of(result.latencies(), result.elapsedNanos());
    }

    /** From every call's latency in nanoseconds, the calls having taken {@code elapsedNanos} in all. */
    static Latency of(Histogram nanos, long elapsedNanos) {
      double millis = TimeUnit.MILLISECONDS.toNanos(1);
      return new Latency(nanos.getTotalCount(), nanos.getTotalCount() * 1e9 / elapsedNanos,
          nanos.getValueAtPercentile(50) / millis, nanos.getValueAtPercentile(99) / millis,
          nanos.getMaxValue() / millis);
    }
  }

  /** Encrypt of 32 B on one key, and on a key picked at random among all, under the same conditions. */
  record OneAgainstRandom(Latency oneKey, Latency randomKeys) {
    /** Random keys' p50 over one key's, as a percentage: 100 is flat. */
    double p50Percent() {
      return 100 * randomKeys.p50Millis() / oneKey.p50Millis();
    }

    double p99Percent() {
      return 100 * randomKeys.p99Millis() / oneKey.p99Millis();
    }
  }

  /** A warm Encrypt run at {@code threads} threads. */
  record WarmRun(int threads, OneAgainstRandom encrypt) {}

  /**
   * The figures at one key count.
   *
   * @param keys the KMS keys in the store, each on both HSMs
   * @param createdInWindow the last keys created up to {@code keys}, over which {@code create} is timed
   * @param create CreateKey, 2-HSM replication, from the benchmark's create threads
   * @param warm Encrypt after every key was used once since the connect
   * @param disconnectMillis DisconnectCustomKeyStore
   * @param connectMillis ConnectCustomKeyStore until the store is CONNECTED
   * @param indexMillis from CONNECTED until both HSMs' handle indexes are filled (in the background)
   * @param restartMillis each restart's time from loading the library and opening the metadata again
   *     until the store is CONNECTED: one before the cold one-key calls, one before the cold random calls
   * @param afterRestart the first calls right after a restart (each kind after a restart of its own)
   * @param rawSearch raw C's search by label on one of the store's tokens
   */
  record Row(int keys, int createdInWindow, Latency create, List<WarmRun> warm, double disconnectMillis,
      double connectMillis, double indexMillis, List<Double> restartMillis, OneAgainstRandom afterRestart,
      RawTokenSearch.Figures rawSearch) {
    double slowestRestartMillis() {
      return restartMillis.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
    }
  }

  /** The CSV's columns, a row per key count; the warm runs' columns per thread count. */
  private List<Column> columns() {
    List<Column> columns = new ArrayList<>(List.of(
        new Column("keys", Row::keys),
        new Column("create_window", Row::createdInWindow),
        new Column("create_per_s", row -> row.create().perSecond()),
        new Column("create_p50_ms", row -> row.create().p50Millis()),
        new Column("create_p99_ms", row -> row.create().p99Millis()),
        new Column("disconnect_ms", Row::disconnectMillis),
        new Column("connect_ms", Row::connectMillis),
        new Column("index_ms", Row::indexMillis),
        new Column("restart_connect_ms", Row::slowestRestartMillis)));
    for (int i = 0; i < settings.threads().size(); i++) {
      int run = i;
      String prefix = "warm_" + settings.threads().get(i) + "t_";
      columns.addAll(encryptColumns(prefix, row -> row.warm().get(run).encrypt()));
    }
    columns.addAll(encryptColumns("restart_", Row::afterRestart));
    columns.addAll(List.of(
        new Column("raw_objects", row -> row.rawSearch().objects()),
        new Column("raw_init_ms", row -> row.rawSearch().initMillis()),
        new Column("raw_search_mean_us", row -> row.rawSearch().meanMicros()),
        new Column("raw_search_p50_us", row -> row.rawSearch().p50Micros()),
        new Column("raw_search_p99_us", row -> row.rawSearch().p99Micros()),
        new Column("raw_encrypt_one_p50_us", row -> row.rawSearch().oneKeyP50Micros()),
        new Column("raw_encrypt_random_p50_us", row -> row.rawSearch().randomKeysP50Micros()),
        new Column("raw_encrypt_one_p99_us", row -> row.rawSearch().oneKeyP99Micros()),
        new Column("raw_encrypt_random_p99_us", row -> row.rawSearch().randomKeysP99Micros())));
    return columns;
  }

  private static List<Column> encryptColumns(String prefix, Function<Row, OneAgainstRandom> encrypt) {
    return List.of(
        new Column(prefix + "one_p50_ms", row -> encrypt.apply(row).oneKey().p50Millis()),
        new Column(prefix + "one_p99_ms", row -> encrypt.apply(row).oneKey().p99Millis()),
        new Column(prefix + "random_p50_ms", row -> encrypt.apply(row).randomKeys().p50Millis()),
        new Column(prefix + "random_p99_ms", row -> encrypt.apply(row).randomKeys().p99Millis()));
  }

  private record Column(String name, Function<Row, Number> value) {}

  /** Writes {@code prefix.csv} and {@code prefix.json}. */
  void write(Path prefix) throws IOException {
    Path parent = prefix.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    List<Column> columns = columns();
    try (PrintWriter out = new PrintWriter(
        Files.newBufferedWriter(parent.resolve(prefix.getFileName() + ".csv"), StandardCharsets.UTF_8))) {
      out.println(columns.stream().map(Column::name).collect(Collectors.joining(",")));
      for (Row row : rows) {
        out.println(columns.stream().map(column -> column.value().apply(row).toString())
            .collect(Collectors.joining(",")));
      }
    }
    JSON.writeValue(parent.resolve(prefix.getFileName() + ".json").toFile(), this);
  }

  /** The table: a line per key count and warm thread count, then one per key count after a restart. */
  void print(PrintStream out) {
    out.printf(Locale.ROOT, "%nKeyhold in process, one key store over a 2-HSM SoftHSM2 cluster (%s)%n", library);
    out.printf(Locale.ROOT, "%s, %d processors, load average %.2f before the run; %s, %s%n", machine.time(),
        machine.processors(), machine.loadAverage(), machine.java(), machine.os());
    out.printf(Locale.ROOT, "CreateKey/s over the last keys created up to each count (window), from %d threads;"
        + " Encrypt 32 B, warm: every key used once since the connect, closed loops of %.1f s after %.1f s unrecorded;"
        + " after restart: the first %d calls (one restart for one key, another for random keys);"
        + " raw C: C_FindObjectsInit(CKA_LABEL) + C_FindObjects + C_FindObjectsFinal, %d random labels;"
        + " raw C Encrypt: C_EncryptInit + C_Encrypt of 32 B on one token, one thread, on one key and on random"
        + " keys, what the token itself pays for many keys%n%n",
        settings.createThreads(), settings.durationSeconds(), settings.warmUpSeconds(), settings.coldCalls(),
        settings.searches());
    out.println("| keys | window | CreateKey/s | restart to CONNECTED ms | Disconnect ms | Connect ms"
        + " | index filled ms | raw C search mean us | raw C search p50 us | raw C_Initialize ms |");
    out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (Row row : rows) {
      out.printf(Locale.ROOT, "| %,d | %,d | %.1f | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f | %.0f |%n",
          row.keys(), row.createdInWindow(), row.create().perSecond(), row.slowestRestartMillis(),
          row.disconnectMillis(), row.connectMillis(), row.indexMillis(), row.rawSearch().meanMicros(),
          row.rawSearch().p50Micros(), row.rawSearch().initMillis());
    }
    out.println();
    out.println("| keys | Encrypt | threads | one key p50 ms | random p50 ms | random/one p50"
        + " | one key p99 ms | random p99 ms | random/one p99 |");
    out.println("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (Row row : rows) {
      for (WarmRun run : row.warm()) {
        printEncrypt(out, row.keys(), "warm", run.threads(), run.encrypt());
      }
      printEncrypt(out, row.keys(), "after restart", 1, row.afterRestart());
      RawTokenSearch.Figures raw = row.rawSearch();
      out.printf(Locale.ROOT, "| %,d | raw C, warm | 1 | %.3f | %.3f | %.0f%% | %.3f | %.3f | %.0f%% |%n", row.keys(),
          raw.oneKeyP50Micros() / 1000, raw.randomKeysP50Micros() / 1000,
          100 * raw.randomKeysP50Micros() / raw.oneKeyP50Micros(), raw.oneKeyP99Micros() / 1000,
          raw.randomKeysP99Micros() / 1000, 100 * raw.randomKeysP99Micros() / raw.oneKeyP99Micros());
    }
  }

  private static void printEncrypt(PrintStream out, int keys, String phase, int threads, OneAgainstRandom encrypt) {
    out.printf(Locale.ROOT, "| %,d | %s | %d | %.3f | %.3f | %.0f%% | %.3f | %.3f | %.0f%% |%n", keys, phase, threads,
        encrypt.oneKey().p50Millis(), encrypt.randomKeys().p50Millis(), encrypt.p50Percent(),
        encrypt.oneKey().p99Millis(), encrypt.randomKeys().p99Millis(), encrypt.p99Percent());
  }
}
