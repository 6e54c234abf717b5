package dev.keyhold.bench;

import dev.keyhold.kms.key.KmsCrypto;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * Keyhold's KMS API under load over HTTP, beside the same operations in process, in one JVM: the
 * {@link EmbeddedKeyhold} (the service as {@code bin/keyhold} serves it, on a free port of 127.0.0.1),
 * called by the AWS SDK for Java v2's {@link KmsClient} signing as the account root.
 *
 * <p>For each {@link KmsOperation} and each thread count: a closed loop over HTTP, then one in
 * process on {@link KmsCrypto} with as many threads (so the two figures of a row come from the same
 * minute of a noisy machine); then an open loop over HTTP at half the best HTTP rate found, for the
 * latency at a load the service should carry comfortably. A dry pass over the same schedule comes
 * first, unrecorded.
 *
 * <p>All threads share one {@link KmsClient} over one Apache HttpClient 5 pool of as many connections
 * as the most threads: that is how the SDK is meant to be used (a client is thread-safe and costly to
 * build), and with a connection per thread no call waits for one, so what is measured is the service
 * and the SDK's own work, not a queue in the pool. The client runs on the same cores as the server,
 * so the HTTP figures carry its CPU too: the report gives the CPU time per call and the client's part.
 *
 * <p>Run through {@code benchmarks/run-http}, which makes the throwaway home and sets
 * {@code SOFTHSM2_CONF} before the JVM starts, as SoftHSM2 requires.
 */
@Command(name = "run-http", mixinStandardHelpOptions = true,
    description = "Measures Keyhold's KMS API over HTTP with the AWS SDK against the same operations in process.")
public final class HttpKmsBenchmark implements Callable<Integer> {
  /** The targets are set at 32 B: a data key's size, and a small secret's. */
  private static final byte[] PAYLOAD = new byte[32];
  private static final List<KmsOperation> OPERATIONS = List.of(KmsOperation.ENCRYPT, KmsOperation.GENERATE_DATA_KEY);
  @Spec
  CommandSpec spec;

  @Option(names = "--home", required = true, paramLabel = "DIR",
      description = "A throwaway Keyhold home; SOFTHSM2_CONF must name DIR/softhsm/softhsm2.conf.")
  Path home;

  @Option(names = "--module", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path softHsmLibrary = BenchKeyStore.REAL_LIBRARY;

  @Option(names = "--threads", split = ",", defaultValue = "1,2,4,8,16", paramLabel = "N",
      description = "Client thread counts of the closed loops (default ${DEFAULT-VALUE}); the open loop uses the most.")
  List<Integer> threadCounts;

  @Option(names = "--dry-pass", defaultValue = "3", paramLabel = "SECONDS",
      description = "Length of each run of a first pass over the whole schedule, not recorded, so that the JIT has"
          + " compiled every path the measured pass takes (default ${DEFAULT-VALUE}; 0: no dry pass).")
  double dryPassSeconds;

  @Option(names = "--warmup", defaultValue = "2", paramLabel = "SECONDS",
      description = "Warm-up before every measured run, not recorded (default ${DEFAULT-VALUE}).")
  double warmUpSeconds;

  @Option(names = "--duration", defaultValue = "5", paramLabel = "SECONDS",
      description = "Length of every measured run (default ${DEFAULT-VALUE}).")
  double durationSeconds;

  @Option(names = "--results", defaultValue = "benchmarks/target/http-kms", paramLabel = "PREFIX",
      description = "Writes PREFIX.csv and PREFIX.json (default ${DEFAULT-VALUE}).")
  Path results;

  @Override
  @SuppressWarnings("ClosingStandardOutputStreams") // System.err is only passed to a factory; nothing closes it
  public Integer call() throws Exception {
    if (threadCounts.stream().anyMatch(threads -> threads < 1) || durationSeconds <= 0 || warmUpSeconds < 0
        || dryPassSeconds < 0) {
      throw new ParameterException(spec.commandLine(),
          "thread counts and the duration must be positive, warm-ups not negative");
    }
    HttpKmsReport.Machine machine = HttpKmsReport.Machine.now();
    int maxThreads = Collections.max(threadCounts);
    try (EmbeddedKeyhold keyhold = EmbeddedKeyhold.start(home, softHsmLibrary, System.err);
        SdkHttpClient http = EmbeddedKeyhold.httpClient(maxThreads);
        KmsClient client = keyhold.client(http)) {
      String keyId = EmbeddedKeyhold.createKey(client, "HttpKmsBenchmark");
      System.err.println("serving on " + keyhold.uri() + "; key " + keyId + " in the local key store");
      KmsCrypto crypto = keyhold.crypto();
      HttpKmsReport.Settings settings = new HttpKmsReport.Settings(dryPassSeconds, warmUpSeconds, durationSeconds,
          threadCounts, "one shared KmsClient, Apache HttpClient 5 pool of " + maxThreads + " connections");
      // Without it the first measured runs carry seconds of compilation of the SDK's, Apache's, Jackson's
      // and Undertow's code (the report's JIT column): with every core busy the compiler falls behind,
      // and each new operation, side or thread count brings deoptimizations and recompiles. A first
      // pass over the same schedule compiles all of it with the profiles of all of them.
      if (dryPassSeconds > 0) {
        try (LoadGenerator dry = new LoadGenerator(maxThreads, Duration.ZERO, seconds(dryPassSeconds))) {
          measure("dry pass", dry, maxThreads, client, crypto, keyId, machine, settings);
        }
        System.err.println("the JIT went idle " + LoadGenerator.awaitCompilerIdle(Duration.ofSeconds(30)).toSeconds()
            + " s after the dry pass");
      }
      try (LoadGenerator load = new LoadGenerator(maxThreads, seconds(warmUpSeconds), seconds(durationSeconds))) {
        HttpKmsReport report = measure("measured", load, maxThreads, client, crypto, keyId, machine, settings);
        report.print(System.out);
        report.write(results);
      }
    }
    return 0;
  }

  /** Runs the whole schedule with {@code load}, telling the progress as {@code pass}. */
  private HttpKmsReport measure(String pass, LoadGenerator load, int maxThreads, KmsClient client, KmsCrypto crypto,
      String keyId, HttpKmsReport.Machine machine, HttpKmsReport.Settings settings) throws Exception {
    List<HttpKmsReport.ClosedLoopPoint> closedLoop = new ArrayList<>();
    List<HttpKmsReport.OpenLoopPoint> openLoop = new ArrayList<>();
    for (KmsOperation operation : OPERATIONS) {
      String label = operation.label(PAYLOAD.length);
      Runnable overHttp = operation.overHttp(client, keyId, PAYLOAD);
      Runnable inProcess = operation.inProcess(crypto, keyId, PAYLOAD);
      double peakPerSecond = 0;
      for (int threads : threadCounts) {
        LoadGenerator.Result http = load.closedLoop(threads, overHttp);
        LoadGenerator.Result direct = load.closedLoop(threads, inProcess);
        HttpKmsReport.ClosedLoopPoint point = HttpKmsReport.ClosedLoopPoint.of(label, threads, http, direct);
        closedLoop.add(point);
        peakPerSecond = Math.max(peakPerSecond, http.perSecond());
        System.err.printf("%s: %s, %d threads: %.0f req/s over HTTP, %.0f ops/s in process%n", pass,
            label, threads, point.http().perSecond(), point.inProcess().perSecond());
      }
      double target = peakPerSecond / 2;
      HttpKmsReport.Figures atHalfPeak = HttpKmsReport.Figures.of(load.openLoop(maxThreads, target, overHttp));
      openLoop.add(new HttpKmsReport.OpenLoopPoint(label, maxThreads, target, atHalfPeak));
      System.err.printf("%s: %s, open loop at %.0f req/s: p99 %.2f ms%n", pass, label, target,
          atHalfPeak.p99Millis());
    }
    return new HttpKmsReport(machine, settings, closedLoop, openLoop);
  }

  private static Duration seconds(double seconds) {
    return Duration.ofNanos(Math.round(seconds * 1e9));
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new HttpKmsBenchmark()).execute(args));
  }
}
