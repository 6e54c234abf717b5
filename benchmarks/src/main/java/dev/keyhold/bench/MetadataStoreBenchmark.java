package dev.keyhold.bench;

import static com.google.common.base.Preconditions.checkState;

import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.KeyState;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.postgres.ThrowawayPostgres;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.sql.DatabaseMetaData;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Keyhold with its metadata on PostgreSQL against the same on H2, in one JVM: in-process Encrypt of
 * 32 B ({@code KmsCrypto}) and CreateKey ({@code KmsKeys}), each in a closed loop at several thread
 * counts, on two connected key stores open side by side: one whose metadata is an embedded H2 file,
 * one whose metadata is a database of a throwaway PostgreSQL server ({@link ThrowawayPostgres}).
 *
 * <p>Encrypt finds its key in the key cache and reads no database, so its rate should not depend on
 * the store; CreateKey writes the key's rows in transactions of its own around the token work, so
 * there the database's share can show. Every run counts the metadata transactions it made
 * ({@link CountingMetadataStore}), so the report says how many each call made instead of leaving it
 * to be inferred from the rates.
 *
 * <p>Each store has a 2-HSM SoftHSM2 cluster of its own, provisioned alike by the same library in the
 * same SoftHSM2 directory: connecting a key store rotates kmsuser's password and keeps the new one in
 * that store's metadata, so two metadata stores cannot share one cluster's kmsuser; and every
 * CreateKey leaves a key in each token, and SoftHSM2 slows as they pile up, so tokens of their own
 * fill alike under both stores. The runs alternate between the stores, and which goes first swaps
 * from one thread count to the next, so that a shared machine's drift falls on both.
 *
 * <p>Run through {@code benchmarks/run-metadata}, which makes the SoftHSM2 directory and sets
 * {@code SOFTHSM2_CONF} before the JVM starts, as SoftHSM2 requires.
 */
@Command(name = "run-metadata", mixinStandardHelpOptions = true,
    description = "Measures in-process Encrypt and CreateKey with Keyhold's metadata on PostgreSQL against H2.")
public final class MetadataStoreBenchmark implements Callable<Integer> {
  private static final byte[] PAYLOAD = new byte[32];
  private static final int HSMS = 2;

  @Spec
  CommandSpec spec;

  @Option(names = "--module", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path softHsmLibrary = BenchKeyStore.REAL_LIBRARY;

  @Option(names = "--threads", split = ",", defaultValue = "1,4", paramLabel = "N",
      description = "Thread counts of the closed loops (default ${DEFAULT-VALUE}).")
  List<Integer> threadCounts;

  @Option(names = "--warmup", defaultValue = "10", paramLabel = "SECONDS",
      description = "Warm-up before every measured run, not recorded (default ${DEFAULT-VALUE}).")
  double warmUpSeconds;

  @Option(names = "--duration", defaultValue = "15", paramLabel = "SECONDS",
      description = "Length of every measured run (default ${DEFAULT-VALUE}).")
  double durationSeconds;

  @Override
  public Integer call() throws Exception {
    if (threadCounts.stream().anyMatch(threads -> threads < 1) || durationSeconds <= 0 || warmUpSeconds < 0) {
      throw new ParameterException(spec.commandLine(),
          "thread counts and the duration must be positive, the warm-up not negative");
    }
    HttpKmsReport.Machine machine = HttpKmsReport.Machine.now();
    String postgresUrl = ThrowawayPostgres.forThisJvm().newDatabase();
    List<Point> points = new ArrayList<>();
    try (Store h2 = Store.open("H2", softHsmLibrary, JdbcMetadataStore::embedded);
        Store postgres = Store.open("PostgreSQL", softHsmLibrary,
            data -> JdbcMetadataStore.open(postgresUrl, ThrowawayPostgres.USER, ""));
        // The warm-up is a pass of its own, so that the transactions counted are the measured calls'.
        LoadGenerator load =
            new LoadGenerator(Collections.max(threadCounts), Duration.ZERO, seconds(durationSeconds))) {
      for (Operation operation : Operation.values()) {
        for (int i = 0; i < threadCounts.size(); i++) {
          int threads = threadCounts.get(i);
          for (Store store : i % 2 == 0 ? List.of(h2, postgres) : List.of(postgres, h2)) {
            Runnable call = operation.call(store);
            load.unrecorded(threads, call, seconds(warmUpSeconds));
            long transactionsBefore = store.metadata().transactions();
            LoadGenerator.Result result = load.closedLoop(threads, call);
            Point point = new Point(operation, threads, store, result,
                store.metadata().transactions() - transactionsBefore);
            points.add(point);
            System.err.printf(Locale.ROOT, "%s, %d threads, %s: %,.0f ops/s, %.3f metadata transactions per call%n",
                operation.label, threads, store.name(), result.perSecond(), point.transactionsPerCall());
          }
        }
      }
      print(System.out, machine, List.of(h2, postgres), points);
    }
    return 0;
  }

  private void print(PrintStream out, HttpKmsReport.Machine machine, List<Store> stores, List<Point> points) {
    out.printf(Locale.ROOT, "%nKeyhold in process, metadata on PostgreSQL against H2; a 2-HSM SoftHSM2 cluster each"
        + " (%s)%n", softHsmLibrary);
    out.printf(Locale.ROOT, "%s, %d processors, load average %.2f before the run; %s, %s%n", machine.time(),
        machine.processors(), machine.loadAverage(), machine.java(), machine.os());
    for (Store store : stores) {
      out.printf(Locale.ROOT, "%s: %s%n", store.name(), store.product());
    }
    out.printf(Locale.ROOT, "Closed loops; each run: warm-up %.1f s, then %.1f s; at the thread counts %s the"
        + " stores ran in turns, the first store swapping at each.%ntx: metadata transactions in the measured run;"
        + " CPU us/call: this process's CPU time per call; others: the machine's CPU that other processes"
        + " took (the PostgreSQL server's among them)%n%n", warmUpSeconds, durationSeconds, threadCounts);
    out.printf(Locale.ROOT, "| %-12s | %7s | %-10s | %8s | %7s | %7s | %5s | %7s | %11s | %6s | %15s |%n",
        "operation", "threads", "metadata", "ops/s", "p50 ms", "p99 ms", "tx", "tx/call", "CPU us/call", "others",
        "PostgreSQL / H2");
    out.printf(Locale.ROOT, "|%s|%s:|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%n", "-".repeat(14), "-".repeat(8),
        "-".repeat(12), "-".repeat(9), "-".repeat(8), "-".repeat(8), "-".repeat(6), "-".repeat(8), "-".repeat(12),
        "-".repeat(7), "-".repeat(16));
    List<Point> rows = new ArrayList<>(points);
    rows.sort(Comparator.comparing(Point::operation).thenComparingInt(Point::threads)
        .thenComparingInt(point -> stores.indexOf(point.store())));
    for (Point point : rows) {
      LoadGenerator.Result result = point.result();
      String ratio = point.store().equals(stores.get(0)) ? "" : String.format(Locale.ROOT, "%.0f%%",
          100 * result.perSecond() / baseline(points, point, stores.get(0)).result().perSecond());
      out.printf(Locale.ROOT,
          "| %-12s | %7d | %-10s | %,8.0f | %7.3f | %7.3f | %,5d | %7.3f | %11.0f | %5.0f%% | %15s |%n",
          point.operation().label, point.threads(), point.store().name(), result.perSecond(), result.millisAt(50),
          result.millisAt(99), point.transactions(), point.transactionsPerCall(), result.cpuMicrosPerCall(),
          100 * result.othersCpuShare(), ratio);
    }
  }

  /** The point of {@code store} that measured the same operation at the same thread count as {@code point}. */
  private static Point baseline(List<Point> points, Point point, Store store) {
    return points.stream()
        .filter(other -> other.store().equals(store) && other.operation() == point.operation()
            && other.threads() == point.threads())
        .findFirst()
        .orElseThrow();
  }

  private static Duration seconds(double seconds) {
    return Duration.ofNanos(Math.round(seconds * 1e9));
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new MetadataStoreBenchmark()).execute(args));
  }

  /** What the benchmark calls, the same way on either store. */
  private enum Operation {
    ENCRYPT("Encrypt 32 B") {
      @Override
      Runnable call(Store store) {
        return KmsOperation.ENCRYPT.inProcess(store.keyStore().crypto, store.keyId(), PAYLOAD);
      }
    },
    CREATE_KEY("CreateKey") {
      @Override
      Runnable call(Store store) {
        CreateKeyRequest request =
            CreateKeyRequest.inCustomKeyStore(store.keyStore().storeId, "MetadataStoreBenchmark");
        return () -> store.keyStore().keys.createKey(request);
      }
    };

    final String label;

    Operation(String label) {
      this.label = label;
    }

    abstract Runnable call(Store store);
  }

  /**
   * A connected key store over a cluster of its own, its metadata counted, and a KMS key in it to
   * encrypt under.
   *
   * @param product the metadata database's name and version, as its JDBC driver gives them
   */
  private record Store(String name, String product, CountingMetadataStore metadata, BenchKeyStore keyStore,
      String keyId) implements AutoCloseable {
    /** Opens a store named {@code name} whose metadata {@code metadata} opens in the store's data directory. */
    static Store open(String name, Path library, Function<Path, MetadataStore> metadata)
        throws IOException, InterruptedException {
      Path data = BenchKeyStore.newDataDirectory();
      CountingMetadataStore counted = new CountingMetadataStore(metadata.apply(data));
      String product = counted.inTransaction(c -> {
        DatabaseMetaData database = c.getMetaData();
        return database.getDatabaseProductName() + " " + database.getDatabaseProductVersion();
      });
      BenchKeyStore keyStore = BenchKeyStore.open(data, library, HSMS, counted);
      KeyMetadata key = keyStore.keys.createKey(CreateKeyRequest.inCustomKeyStore(keyStore.storeId, name));
      checkState(key.keyState() == KeyState.Enabled, "CreateKey gave a key in state %s", key.keyState());
      return new Store(name, product, counted, keyStore, key.keyId());
    }

    @Override
    public void close() {
      keyStore.close();
    }
  }

  /** One measured run: {@code threads} threads calling {@code operation} on {@code store}. */
  private record Point(Operation operation, int threads, Store store, LoadGenerator.Result result,
      long transactions) {
    double transactionsPerCall() {
      return transactions / (double) result.calls();
    }
  }
}
