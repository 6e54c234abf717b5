package dev.keyhold.bench;

import static com.google.common.base.Preconditions.checkState;

import dev.keyhold.bench.KeyCountReport.Latency;
import dev.keyhold.bench.KeyCountReport.OneAgainstRandom;
import dev.keyhold.bench.KeyCountReport.Row;
import dev.keyhold.bench.KeyCountReport.WarmRun;
import dev.keyhold.bench.durability.Parallel;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.KeyState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.pkcs11.Token;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Whether Keyhold stays flat as a key store fills (issue 16, part 4): in process ({@code Keyhold}'s
 * core API, no HTTP), one key store over a 2-HSM SoftHSM2 cluster grows with CreateKey to each key
 * count in turn, and at each count the benchmark measures
 *
 * <ul>
 *   <li>CreateKey per second, with replication to both HSMs, over the last keys created up to the
 *       count: the last tenth, but at least the last 10 (all of them at 10 keys);
 *   <li>Encrypt of 32 B on one key against Encrypt on a key picked at random among all, warm (every key
 *       used once since the connect), in closed loops at each thread count;
 *   <li>raw C's cost of a search by label on one of the store's tokens ({@link RawTokenSearch}): what
 *       the first use of a key would cost without the adapter's handle index;
 *   <li>DisconnectCustomKeyStore, ConnectCustomKeyStore until CONNECTED, and from then until both
 *       HSMs' handle indexes are filled (in the background);
 *   <li>a restart: the Keyhold, its H2 metadata and the library closed, then loaded and opened again
 *       on the same data and tokens, timed from the reload until the store is CONNECTED; then the first calls of
 *       Encrypt on one key, and after another restart the first on random keys: the cold figures.
 * </ul>
 *
 * The store keeps its keys from one count to the next, so the counts must rise. Run through
 * {@code benchmarks/run-key-counts}, which makes the SoftHSM2 directory and sets {@code SOFTHSM2_CONF}
 * before the JVM starts, as SoftHSM2 requires.
 */
@Command(name = "run-key-counts", mixinStandardHelpOptions = true,
    description = "Measures CreateKey, Encrypt on one key against random keys, connects and restarts, and raw C's"
        + " search by label, as a 2-HSM key store fills.")
public final class KeyCountBenchmark implements Callable<Integer> {
  private static final List<Integer> DEFAULT_COUNTS = List.of(10, 1_000, 10_000);
  private static final byte[] PAYLOAD = new byte[32];
  private static final int HSMS = 2;
  private static final int SIGNIFICANT_DIGITS = 3;

  @Spec
  CommandSpec spec;

  @Parameters(arity = "0..*", paramLabel = "KEYS", description = "Key counts, rising (default 10 1000 10000).")
  List<Integer> counts;

  @Option(names = "--module", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path softHsmLibrary = BenchKeyStore.REAL_LIBRARY;

  @Option(names = "--create-threads", defaultValue = "8", paramLabel = "N",
      description = "Threads that create the keys, and use each once before the warm runs (default ${DEFAULT-VALUE}).")
  int createThreads;

  @Option(names = "--threads", split = ",", defaultValue = "1,2", paramLabel = "N",
      description = "Thread counts of the warm Encrypt runs (default ${DEFAULT-VALUE}).")
  List<Integer> threadCounts;

  @Option(names = "--warmup", defaultValue = "3", paramLabel = "SECONDS",
      description = "Unrecorded pass before every warm Encrypt run (default ${DEFAULT-VALUE}).")
  double warmUpSeconds;

  @Option(names = "--duration", defaultValue = "10", paramLabel = "SECONDS",
      description = "Length of every warm Encrypt run (default ${DEFAULT-VALUE}).")
  double durationSeconds;

  @Option(names = "--cold-calls", defaultValue = "1000", paramLabel = "N",
      description = "Encrypt calls timed right after each restart (default ${DEFAULT-VALUE}).")
  int coldCalls;

  @Option(names = "--searches", defaultValue = "50", paramLabel = "N",
      description = "Raw C searches by label at each key count (default ${DEFAULT-VALUE}).")
  int searches;

  @Option(names = "--results", defaultValue = "benchmarks/target/key-counts", paramLabel = "PREFIX",
      description = "Writes PREFIX.csv and PREFIX.json (default ${DEFAULT-VALUE}).")
  Path results;

  /** Replaced by each restart. */
  private BenchKeyStore store;
  /** Every key created, in the order created; the first is the one-key runs' key. */
  private final List<KeyMetadata> keys = Collections.synchronizedList(new ArrayList<>());

  @Override
  public Integer call() throws Exception {
    List<Integer> keyCounts = counts == null || counts.isEmpty() ? DEFAULT_COUNTS : counts;
    for (int i = 0; i < keyCounts.size(); i++) {
      if (keyCounts.get(i) < 1 || i > 0 && keyCounts.get(i) <= keyCounts.get(i - 1)) {
        throw new ParameterException(spec.commandLine(), "key counts must be positive and rising: " + keyCounts);
      }
    }
    if (createThreads < 1 || threadCounts.stream().anyMatch(threads -> threads < 1) || durationSeconds <= 0
        || warmUpSeconds < 0 || coldCalls < 1 || searches < 1) {
      throw new ParameterException(spec.commandLine(),
          "thread counts, the duration, cold calls and searches must be positive, the warm-up not negative");
    }
    HttpKmsReport.Machine machine = HttpKmsReport.Machine.now();
    Path data = BenchKeyStore.newDataDirectory();
    RawTokenSearch rawSearch = RawTokenSearch.compile(data.resolve("find-objects"), softHsmLibrary);
    List<Row> rows = new ArrayList<>();
    store = BenchKeyStore.open(data, softHsmLibrary, HSMS);
    try (LoadGenerator load =
        new LoadGenerator(Collections.max(threadCounts), seconds(warmUpSeconds), seconds(durationSeconds))) {
      for (int count : keyCounts) {
        rows.add(measure(count, load, rawSearch));
      }
    } finally {
      store.close();
    }
    KeyCountReport report = new KeyCountReport(machine, new KeyCountReport.Settings(createThreads, threadCounts,
        warmUpSeconds, durationSeconds, coldCalls, searches), softHsmLibrary.toString(), rows);
    report.write(results);
    report.print(System.out);
    return 0;
  }

  private Row measure(int count, LoadGenerator load, RawTokenSearch rawSearch) throws Exception {
    int window = Math.min(count - keys.size(), Math.max(count / 10, Math.min(count, 10)));
    progress("%,d keys: creating %,d, then timing the last %,d", count, count - keys.size(), window);
    create(count - window - keys.size());
    Latency create = create(window);
    progress("%,d keys: %.1f CreateKey/s; using every key once", count, create.perSecond());
    Parallel.forEach(encryptCalls(), createThreads, Runnable::run);

    List<WarmRun> warm = new ArrayList<>();
    for (int threads : threadCounts) {
      List<Runnable> calls = encryptCalls();
      Latency oneKey = Latency.of(load.closedLoop(threads, anyOf(calls.subList(0, 1))));
      Latency randomKeys = Latency.of(load.closedLoop(threads, anyOf(calls)));
      warm.add(new WarmRun(threads, new OneAgainstRandom(oneKey, randomKeys)));
      progress("%,d keys, warm, %d threads: Encrypt p50 %.3f ms on one key, %.3f ms on random keys", count, threads,
          oneKey.p50Millis(), randomKeys.p50Millis());
    }

    RawTokenSearch.Figures raw = rawSearch.search(store.cluster.hsms().get(0).tokenLabel(), store.loginPin(),
        keys.stream().map(KeyMetadata::arn).toList(), searches);
    progress("%,d keys: raw C search by label %.1f us (mean of %d) among %,d objects; raw C Encrypt p50 %.1f us on"
        + " one key, %.1f us on random keys", count, raw.meanMicros(), raw.searches(), raw.objects(),
        raw.oneKeyP50Micros(), raw.randomKeysP50Micros());

    CustomKeyStores keyStores = store.keyhold.keyStores();
    long t0 = System.nanoTime();
    keyStores.disconnectCustomKeyStore(store.storeId);
    long t1 = System.nanoTime();
    keyStores.connectCustomKeyStore(store.storeId);
    store.awaitConnected();
    long t2 = System.nanoTime();
    for (Token token : store.logins().tokens().values()) {
      token.fillKeyIndex(); // waits for the fill the connect started in the background
    }
    long t3 = System.nanoTime();

    List<Double> restartMillis = new ArrayList<>();
    OneAgainstRandom afterRestart =
        new OneAgainstRandom(firstCallsAfterRestart(false, restartMillis), firstCallsAfterRestart(true, restartMillis));
    progress("%,d keys: restarts to CONNECTED in %.0f and %.0f ms; the first %d Encrypts p50 %.3f ms on one key,"
        + " %.3f ms on random keys", count, restartMillis.get(0), restartMillis.get(1), coldCalls, afterRestart.oneKey().p50Millis(),
        afterRestart.randomKeys().p50Millis());
    return new Row(count, window, create, warm, millis(t1 - t0), millis(t2 - t1), millis(t3 - t2), restartMillis,
        afterRestart, raw);
  }

  /** Creates {@code n} keys from the create threads; returns their latencies and rate. */
  private Latency create(int n) throws InterruptedException {
    Histogram latencies = new ConcurrentHistogram(SIGNIFICANT_DIGITS);
    CreateKeyRequest request = CreateKeyRequest.inCustomKeyStore(store.storeId, "KeyCountBenchmark");
    long start = System.nanoTime();
    Parallel.forEach(Collections.nCopies(n, request), createThreads, call -> {
      long sent = System.nanoTime();
      KeyMetadata key = store.keys.createKey(call);
      latencies.recordValue(System.nanoTime() - sent);
      checkState(key.keyState() == KeyState.Enabled, "CreateKey gave a key in state %s", key.keyState());
      keys.add(key);
    });
    return Latency.of(latencies, System.nanoTime() - start);
  }

  /**
   * Restarts the store, then times the first {@code coldCalls} Encrypts, on random keys or on the
   * first key; adds the restart's time to CONNECTED to {@code restartMillis}.
   */
  private Latency firstCallsAfterRestart(boolean randomKeys, List<Double> restartMillis) throws InterruptedException {
    BenchKeyStore.Restarted restarted = store.restart(JdbcMetadataStore::embedded);
    store = restarted.store();
    restartMillis.add(millis(restarted.connecting().toNanos()));
    List<Runnable> calls = encryptCalls();
    Runnable call = anyOf(randomKeys ? calls : calls.subList(0, 1));
    Histogram latencies = new Histogram(SIGNIFICANT_DIGITS);
    long start = System.nanoTime();
    for (int i = 0; i < coldCalls; i++) {
      long sent = System.nanoTime();
      call.run();
      latencies.recordValue(System.nanoTime() - sent);
    }
    return Latency.of(latencies, System.nanoTime() - start);
  }

  /** An Encrypt of 32 B on each key, in the order created, each request built once, on the current store. */
  private List<Runnable> encryptCalls() {
    List<KeyMetadata> created;
    synchronized (keys) {
      created = List.copyOf(keys);
    }
    return created.stream().map(key -> KmsOperation.ENCRYPT.inProcess(store.crypto, key.keyId(), PAYLOAD)).toList();
  }

  /**
   * A call picked at random from {@code calls}: one-key and random-key runs both take this path, so
   * that they differ only in how many keys there are to pick from.
   */
  private static Runnable anyOf(List<Runnable> calls) {
    return () -> calls.get(ThreadLocalRandom.current().nextInt(calls.size())).run();
  }

  private static void progress(String format, Object... args) {
    System.err.printf(Locale.ROOT, format + "%n", args);
  }

  private static double millis(long nanos) {
    return nanos / (double) TimeUnit.MILLISECONDS.toNanos(1);
  }

  private static Duration seconds(double seconds) {
    return Duration.ofNanos(Math.round(seconds * 1e9));
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new KeyCountBenchmark()).execute(args));
  }
}
