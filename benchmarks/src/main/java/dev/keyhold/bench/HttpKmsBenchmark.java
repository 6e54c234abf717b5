package dev.keyhold.bench;

import dev.keyhold.bench.harness.TokenLimit;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.pkcs11.Pkcs11Module;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import jdk.jfr.Recording;
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
 * <p>Then the server alone, on Encrypt of 32 B: {@link Wrk} replaying one request the SDK signed, at
 * each of {@code --wrk-connections}, with the server's CPU time per request; an open loop at half
 * wrk's best rate, replaying the same request from this JVM on plain sockets ({@link SocketReplay});
 * and beside them the same Encrypt in process with {@value HttpKmsReport.ServerPhase#IN_PROCESS_THREADS}
 * threads, and the token's own limit, keyhold-bench's raw C program ({@link TokenLimit}) with 1 and 2.
 * The targets' ratios of HTTP to in process are then taken again from {@code --pairs} runs of each
 * back to back, since this machine's speed drifts more between runs minutes apart than the ratios
 * differ.
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
  /** The raw C program's own SoftHSM2 token, beside the embedded Keyhold's in the same directory. */
  private static final String RAW_C_TOKEN = "run-http-raw-c";
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

  @Option(names = "--wrk-connections", split = ",", defaultValue = "1,4,16", paramLabel = "N",
      description = "Connection counts of wrk's replay of a pre-signed Encrypt (default ${DEFAULT-VALUE}); wrk runs"
          + " on up to 2 threads.")
  List<Integer> wrkConnections;

  @Option(names = "--pairs", defaultValue = "3", paramLabel = "N",
      description = "Back-to-back pairs of an in-process run and a wrk run with the most connections, each as long"
          + " as a measured run, whose ratios are reported with their median (default ${DEFAULT-VALUE}; 0: none).")
  int pairs;

  @Option(names = "--server-only", description = "Measures the server alone (wrk, in process, raw C), without the"
      + " SDK's closed and open loops.")
  boolean serverOnly;

  @Option(names = "--profile", paramLabel = "FILE", description = "Ends with one more wrk run with the most"
      + " connections, recorded with JFR into FILE, and prints where the server's CPU went per request (not in the"
      + " report: that run carries the sampler's own cost).")
  Path profile;

  @Option(names = "--results", defaultValue = "benchmarks/target/http-kms", paramLabel = "PREFIX",
      description = "Writes PREFIX.csv, PREFIX-server.csv and PREFIX.json (default ${DEFAULT-VALUE}).")
  Path results;

  @Override
  @SuppressWarnings("ClosingStandardOutputStreams") // System.err is only passed to a factory; nothing closes it
  public Integer call() throws Exception {
    if (threadCounts.stream().anyMatch(threads -> threads < 1) || wrkConnections.stream().anyMatch(n -> n < 1)
        || durationSeconds <= 0 || warmUpSeconds < 0 || dryPassSeconds < 0 || pairs < 0) {
      throw new ParameterException(spec.commandLine(),
          "thread and connection counts and the duration must be positive, warm-ups and pairs not negative");
    }
    if (seconds(warmUpSeconds + durationSeconds).compareTo(SignedRequest.VALID_FOR) >= 0) {
      throw new ParameterException(spec.commandLine(), "a warm-up and a measured run must take less than "
          + SignedRequest.VALID_FOR.toMinutes() + " minutes: a pre-signed request is replayed that long");
    }
    HttpKmsReport.Machine machine = HttpKmsReport.Machine.now();
    // The server phase measures in process with 2 threads whatever the thread counts asked for.
    int maxThreads = Math.max(Collections.max(threadCounts), HttpKmsReport.ServerPhase.IN_PROCESS_THREADS);
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
      if (dryPassSeconds > 0 && !serverOnly) {
        try (LoadGenerator dry = new LoadGenerator(maxThreads, Duration.ZERO, seconds(dryPassSeconds))) {
          measure("dry pass", dry, maxThreads, client, crypto, keyId);
        }
        System.err.println("the JIT went idle " + LoadGenerator.awaitCompilerIdle(Duration.ofSeconds(30)).toSeconds()
            + " s after the dry pass");
      }
      try (LoadGenerator load = new LoadGenerator(maxThreads, seconds(warmUpSeconds), seconds(durationSeconds))) {
        SdkRuns sdk = serverOnly ? new SdkRuns(List.of(), List.of())
            : measure("measured", load, maxThreads, client, crypto, keyId);
        HttpKmsReport report = new HttpKmsReport(machine, settings, sdk.closedLoop(), sdk.openLoop(),
            measureServer(keyhold, http, load, maxThreads, keyId));
        report.print(System.out);
        report.write(results);
      }
    }
    return 0;
  }

  /** The SDK's runs: closed loops beside in process, then an open loop, per operation. */
  private record SdkRuns(List<HttpKmsReport.ClosedLoopPoint> closedLoop, List<HttpKmsReport.OpenLoopPoint> openLoop) {}

  /** Runs the SDK's schedule with {@code load}, telling the progress as {@code pass}. */
  private SdkRuns measure(String pass, LoadGenerator load, int maxThreads, KmsClient client, KmsCrypto crypto,
      String keyId) throws Exception {
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
    return new SdkRuns(closedLoop, openLoop);
  }

  /** The server alone on Encrypt of 32 B, beside in process and raw C; see the class comment. */
  private HttpKmsReport.ServerPhase measureServer(EmbeddedKeyhold keyhold, SdkHttpClient http, LoadGenerator load,
      int maxThreads, String keyId) throws Exception {
    KmsOperation operation = KmsOperation.ENCRYPT;
    String label = operation.label(PAYLOAD.length);
    Runnable inProcessCall = operation.inProcess(keyhold.crypto(), keyId, PAYLOAD);
    HttpKmsReport.Figures inProcess =
        HttpKmsReport.Figures.of(load.closedLoop(HttpKmsReport.ServerPhase.IN_PROCESS_THREADS, inProcessCall));
    System.err.printf("server: %s in process, %d threads: %.0f ops/s%n", label,
        HttpKmsReport.ServerPhase.IN_PROCESS_THREADS, inProcess.perSecond());
    List<HttpKmsReport.RawCPoint> rawC = new ArrayList<>();
    try (Pkcs11Module softHsm = Pkcs11Module.load(softHsmLibrary);
        TokenLimit limit = TokenLimit.onThrowawayToken(softHsm, RAW_C_TOKEN)) {
      for (int threads : List.of(1, 2)) {
        rawC.add(new HttpKmsReport.RawCPoint(threads,
            HttpKmsReport.Figures.of(limit.encrypt(PAYLOAD.length, threads, load))));
        System.err.printf("server: raw C encrypt of %d B, %d threads: %.0f ops/s%n", PAYLOAD.length, threads,
            rawC.get(rawC.size() - 1).figures().perSecond());
      }
    }
    List<Wrk.Result> wrk = new ArrayList<>();
    Path scripts = Files.createDirectories(home.resolve("wrk"));
    for (int connections : wrkConnections) {
      // Signed afresh for each point: a signature is accepted for 5 minutes only.
      Wrk replay = Wrk.replaying(SignedRequest.capture(keyhold, http, operation, keyId, PAYLOAD), scripts);
      warmUp(replay, connections);
      Wrk.Result point = replay.run(connections, seconds(durationSeconds));
      wrk.add(point);
      System.err.printf("server: wrk, %d connections: %.0f req/s, p99 %.2f ms, server CPU %.0f us per request%n",
          connections, point.perSecond(), point.p99Millis(), point.serverCpuMicrosPerRequest());
    }
    List<HttpKmsReport.Pair> paired = new ArrayList<>();
    int mostConnections = Collections.max(wrkConnections);
    for (int i = 0; i < pairs; i++) {
      HttpKmsReport.Pair pair = new HttpKmsReport.Pair(
          HttpKmsReport.Figures.of(load.closedLoop(HttpKmsReport.ServerPhase.IN_PROCESS_THREADS, inProcessCall)),
          Wrk.replaying(SignedRequest.capture(keyhold, http, operation, keyId, PAYLOAD), scripts)
              .run(mostConnections, seconds(durationSeconds)));
      paired.add(pair);
      System.err.printf("server: pair %d: %.1f%% of the in-process rate, %.2fx its CPU per call%n", i + 1,
          100 * pair.rateRatio(), pair.cpuRatio());
    }
    double target = wrk.stream().mapToDouble(Wrk.Result::perSecond).max().orElseThrow() / 2;
    HttpKmsReport.OpenLoopPoint openLoop;
    try (SocketReplay replay = SocketReplay.of(SignedRequest.capture(keyhold, http, operation, keyId, PAYLOAD))) {
      openLoop = new HttpKmsReport.OpenLoopPoint(label, maxThreads, target,
          HttpKmsReport.Figures.of(load.openLoop(maxThreads, target, replay)));
    }
    System.err.printf("server: replay, open loop at %.0f req/s: p99 %.2f ms%n", target,
        openLoop.http().p99Millis());
    if (profile != null) {
      // Last, and in a run of its own: the sampler costs CPU, and the JIT recompiles after it.
      profiled(Wrk.replaying(SignedRequest.capture(keyhold, http, operation, keyId, PAYLOAD), scripts),
          mostConnections);
    }
    return new HttpKmsReport.ServerPhase(label, wrk, inProcess, rawC, openLoop, paired);
  }

  /**
   * Runs {@code replay} for the warm-up, again until the JIT is quiet ({@link LoadGenerator#jitQuiet}):
   * wrk's requests take paths the SDK's did not (fewer headers, one connection reused by many
   * requests), and the compiler works only under load, so a measured run straight after one warm-up
   * can carry seconds of compilation on the server's cores.
   */
  private void warmUp(Wrk replay, int connections) throws Exception {
    if (warmUpSeconds <= 0) {
      return;
    }
    for (int round = 0; round < LoadGenerator.MAX_WARM_UPS; round++) {
      Wrk.Result warm = replay.run(connections, seconds(warmUpSeconds));
      if (LoadGenerator.jitQuiet(warm.jitMillis(), seconds(warm.seconds()))) {
        return;
      }
    }
    System.err.printf("server: the JIT was still compiling after %d warm-ups of %d connections%n",
        LoadGenerator.MAX_WARM_UPS, connections);
  }

  /** Runs {@code replay} under JFR into {@link #profile}, and prints where the server's CPU went. */
  private void profiled(Wrk replay, int connections) throws Exception {
    try (Recording recording = JfrBreakdown.newRecording()) {
      recording.start();
      long javaCpuBefore = JfrBreakdown.javaThreadsCpuNanos();
      long allocatedBefore = JfrBreakdown.javaThreadsAllocatedBytes();
      Wrk.Result point = replay.run(connections, seconds(durationSeconds));
      long javaCpu = JfrBreakdown.javaThreadsCpuNanos() - javaCpuBefore;
      long allocated = JfrBreakdown.javaThreadsAllocatedBytes() - allocatedBefore;
      recording.stop();
      Files.createDirectories(profile.toAbsolutePath().getParent());
      recording.dump(profile);
      JfrBreakdown.of(profile, JfrBreakdown.HTTP_ENCRYPT)
          .print(System.err, javaCpu / 1e3 / point.requests(), (double) allocated / point.requests());
    }
    System.err.println("server: the JFR recording of wrk's run with " + connections + " connections is " + profile);
  }

  private static Duration seconds(double seconds) {
    return Duration.ofNanos(Math.round(seconds * 1e9));
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new HttpKmsBenchmark()).execute(args));
  }
}
