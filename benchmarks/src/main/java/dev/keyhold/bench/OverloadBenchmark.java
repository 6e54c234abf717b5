package dev.keyhold.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.google.common.base.Strings;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.quota.QuotaConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * Issue 15's overload goal, measured: a client past its per-credential quota gets
 * {@code ThrottlingException}, and another client's latency holds. The {@link EmbeddedKeyhold} serves
 * with a quota on every access key and nothing else; two access keys of the account root call it
 * over HTTP, each through its own {@link KmsClient} and connection pool:
 *
 * <ul>
 *   <li>the <b>quiet</b> client sends Encrypt of 32 B in an open loop at a fixed rate under its quota
 *       ({@link LoadGenerator#openLoop}: each latency runs from when the call fell due), and must be
 *       served every time: a call of its that fails ends the run with its error;
 *   <li>the <b>noisy</b> client sends the same calls back to back from several threads, far above its
 *       quota, and counts what it gets: served, {@code ThrottlingException} (HTTP 400), or anything else,
 *       which is an error.
 * </ul>
 *
 * <p>Three phases, each a warm-up then a measured run of the quiet client: alone; beside the noisy
 * client with the SDK's retries off, so that it hammers; beside the noisy client with the SDK's default
 * retries, which back off when throttled, as an application's client would. The phases take turns over
 * several rounds, and each phase's figures are those of all its rounds together, so that other work on a
 * shared machine falls on all of them rather than on whichever ran while it did. A dry pass over the
 * phases comes first, unrecorded, so that the quiet client's baseline is not measured on code the JIT
 * has yet to compile (the noisy phases run paths the quiet one alone never takes).
 *
 * <p>The run fails (exit 1) when the noisy client got any answer but a success or a throttle, or was
 * never throttled while it hammered: then it measured nothing. Run through {@code benchmarks/run-overload},
 * which makes the throwaway home and sets {@code SOFTHSM2_CONF} before the JVM starts.
 */
@Command(name = "run-overload", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Measures a quiet client's latency over HTTP while another client hammers past its quota.")
public final class OverloadBenchmark implements Callable<Integer> {
  private static final byte[] PAYLOAD = new byte[32];
  private static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  @Spec
  CommandSpec spec;

  @Option(names = "--home", required = true, paramLabel = "DIR",
      description = "A throwaway Keyhold home; SOFTHSM2_CONF must name DIR/softhsm/softhsm2.conf.")
  Path home;

  @Option(names = "--module", paramLabel = "PATH", description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path softHsmLibrary = BenchKeyStore.REAL_LIBRARY;

  @Option(names = "--quota", defaultValue = "200", paramLabel = "PER_SECOND",
      description = "Requests per second each access key may make (default ${DEFAULT-VALUE}).")
  double quota;

  @Option(names = "--quiet-rate", defaultValue = "100", paramLabel = "PER_SECOND",
      description = "The quiet client's calls per second, under the quota (default ${DEFAULT-VALUE}).")
  double quietRate;

  @Option(names = "--quiet-threads", defaultValue = "1", paramLabel = "N",
      description = "Threads that send the quiet client's calls as they fall due (default ${DEFAULT-VALUE}).")
  int quietThreads;

  @Option(names = "--noisy-threads", defaultValue = "8", paramLabel = "N",
      description = "The noisy client's threads, each calling back to back (default ${DEFAULT-VALUE}).")
  int noisyThreads;

  @Option(names = "--rounds", defaultValue = "3", paramLabel = "N",
      description = "Rounds of the three phases in turn (default ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--dry-pass", defaultValue = "5", paramLabel = "SECONDS",
      description = "Length of each phase of a first, unrecorded round (default ${DEFAULT-VALUE}; 0: none).")
  double dryPassSeconds;

  @Option(names = "--warmup", defaultValue = "3", paramLabel = "SECONDS",
      description = "Warm-up of every phase in every round, not recorded (default ${DEFAULT-VALUE}).")
  double warmUpSeconds;

  @Option(names = "--duration", defaultValue = "10", paramLabel = "SECONDS",
      description = "Measured length of every phase in every round (default ${DEFAULT-VALUE}).")
  double durationSeconds;

  @Option(names = "--results", paramLabel = "FILE", description = "Also writes the figures to FILE as JSON.")
  Path results;

  @Override
  public Integer call() throws Exception {
    if (quota <= 0 || quietRate <= 0 || quietRate >= quota) {
      throw new ParameterException(spec.commandLine(), "the quiet client's rate must be positive and under the quota");
    }
    if (quietThreads < 1 || noisyThreads < 1 || rounds < 1 || durationSeconds <= 0 || warmUpSeconds < 0
        || dryPassSeconds < 0) {
      throw new ParameterException(spec.commandLine(),
          "thread counts, rounds and the duration must be positive, warm-ups not negative");
    }
    HttpKmsReport.Machine machine = HttpKmsReport.Machine.now();
    try (EmbeddedKeyhold keyhold = EmbeddedKeyhold.start(home, softHsmLibrary, System.err,
            QuotaConfig.unlimited().withPerCredential(quota));
        SdkHttpClient quietHttp = EmbeddedKeyhold.httpClient(quietThreads);
        SdkHttpClient noisyHttp = EmbeddedKeyhold.httpClient(noisyThreads);
        KmsClient quiet = keyhold.client(quietHttp)) {
      // A second access key of the same principal: the quota is per access key, so it is another client
      // to the throttle, while the key policy that lets the root in lets it in too.
      Credential noisyKey = keyhold.addAccessKey();
      String keyId = EmbeddedKeyhold.createKey(quiet, "OverloadBenchmark");
      System.err.println("serving on " + keyhold.uri() + " with " + quota + " requests/s per access key; key " + keyId);
      try (KmsClient hammering = keyhold.client(noisyKey, noisyHttp);
          KmsClient retrying = keyhold.retryingClient(noisyKey, noisyHttp)) {
        Map<Phase, Runnable> noisyCalls = Map.of(
            Phase.HAMMERING, KmsOperation.ENCRYPT.overHttp(hammering, keyId, PAYLOAD),
            Phase.RETRYING, KmsOperation.ENCRYPT.overHttp(retrying, keyId, PAYLOAD));
        Runnable quietCall = KmsOperation.ENCRYPT.overHttp(quiet, keyId, PAYLOAD);
        if (dryPassSeconds > 0) {
          measure("dry pass", 1, Duration.ZERO, seconds(dryPassSeconds), quietCall, noisyCalls);
          System.err.println("the JIT went idle " + LoadGenerator.awaitCompilerIdle(Duration.ofSeconds(30)).toSeconds()
              + " s after the dry pass");
        }
        Report report = new Report(machine, new Settings(quota, quietRate, quietThreads, noisyThreads, rounds,
            dryPassSeconds, warmUpSeconds, durationSeconds, RetryMode.defaultRetryMode().toString()),
            measure("round", rounds, seconds(warmUpSeconds), seconds(durationSeconds), quietCall, noisyCalls));
        report.print(System.out);
        if (results != null) {
          JSON.writeValue(results.toFile(), report);
        }
        report.problems().forEach(problem -> System.out.println("FAILED: " + problem));
        return report.problems().isEmpty() ? 0 : 1;
      }
    }
  }

  /**
   * Runs {@code roundCount} rounds of every phase in turn, each phase {@code warmUp} then {@code duration}
   * measured, telling the progress as {@code pass}; returns each phase's rounds together.
   */
  private List<Row> measure(String pass, int roundCount, Duration warmUp, Duration duration, Runnable quietCall,
      Map<Phase, Runnable> noisyCalls) throws InterruptedException, ExecutionException {
    Map<Phase, Sample> samples = new EnumMap<>(Phase.class);
    // Two generators with no warm-up of their own, so that the noisy client's counts can be taken
    // exactly around the measured run.
    try (LoadGenerator warming = new LoadGenerator(quietThreads, Duration.ZERO, warmUp);
        LoadGenerator measuring = new LoadGenerator(quietThreads, Duration.ZERO, duration)) {
      for (int round = 1; round <= roundCount; round++) {
        for (Phase phase : Phase.values()) {
          Noisy noisy = Noisy.start(noisyCalls.containsKey(phase) ? noisyThreads : 0, noisyCalls.get(phase));
          Sample sample;
          try {
            warming.openLoop(quietThreads, quietRate, quietCall);
            Noisy.Counts before = noisy.counts();
            LoadGenerator.Result quiet = measuring.openLoop(quietThreads, quietRate, quietCall);
            sample = new Sample(quiet, noisy.counts().since(before));
          } finally {
            noisy.close();
          }
          // Errors over the whole phase, the warm-up's and the last calls' too: there must be none at all.
          sample = sample.withErrors(noisy.errors());
          samples.merge(phase, sample, Sample::plus);
          System.err.printf(Locale.ROOT, "%s %d: %s: quiet p99 %.2f ms, others %.0f%%; noisy %.0f served/s, %.0f"
                  + " throttled/s%n", pass, round, phase.label, sample.quiet().millisAt(99),
              100 * sample.quiet().othersCpuShare(), sample.noisy().served() / (sample.noisy().nanos() / 1e9),
              sample.noisy().throttled() / (sample.noisy().nanos() / 1e9));
        }
      }
    }
    List<Row> rows = new ArrayList<>();
    samples.forEach((phase, sample) -> rows.add(Row.of(phase, sample)));
    return rows;
  }

  private static Duration seconds(double seconds) {
    return Duration.ofNanos(Math.round(seconds * 1e9));
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new OverloadBenchmark()).execute(args));
  }

  /** What runs beside the quiet client. */
  enum Phase {
    ALONE("quiet alone"),
    HAMMERING("noisy, no retries"),
    RETRYING("noisy, SDK retries");

    final String label;

    Phase(String label) {
      this.label = label;
    }
  }

  /** How the run was made; {@code sdkRetryMode} is what the noisy client's default retries resolved to. */
  record Settings(double quota, double quietRate, int quietThreads, int noisyThreads, int rounds,
      double dryPassSeconds, double warmUpSeconds, double durationSeconds, String sdkRetryMode) {}

  /**
   * What one phase's measured runs saw, or several of them added up.
   *
   * @param noisyErrors the noisy client's answers other than a success or a throttle, over the whole phase
   */
  private record Sample(LoadGenerator.Result quiet, Noisy.Counts noisy, Map<String, Long> noisyErrors) {
    Sample(LoadGenerator.Result quiet, Noisy.Counts noisy) {
      this(quiet, noisy, Map.of());
    }

    Sample withErrors(Map<String, Long> errors) {
      return new Sample(quiet, noisy, errors);
    }

    Sample plus(Sample other) {
      Map<String, Long> errors = new TreeMap<>(noisyErrors);
      other.noisyErrors().forEach((error, count) -> errors.merge(error, count, Long::sum));
      return new Sample(quiet.plus(other.quiet()), noisy.plus(other.noisy()), errors);
    }
  }

  /**
   * One phase's measured run.
   *
   * @param quiet the quiet client's figures, latencies in milliseconds
   * @param noisyThrottledPerSecond calls answered {@code ThrottlingException}; with the SDK's retries, calls
   *     throttled on every attempt
   * @param noisyErrors any other answer the noisy client got in the phase's rounds, warm-ups included, by
   *     HTTP status and error code (or by exception, for a call that got no answer), with how many times
   * @param noisyCpuShare the share of the machine's CPU the noisy client's threads took: on a shared
   *     machine, its SDK's work competes with the server
   */
  record Row(Phase phase, HttpKmsReport.Figures quiet, double noisyServedPerSecond, double noisyThrottledPerSecond,
      Map<String, Long> noisyErrors, double processCpuShare, double noisyCpuShare) {
    static Row of(Phase phase, Sample sample) {
      LoadGenerator.Result quiet = sample.quiet();
      Noisy.Counts noisy = sample.noisy();
      double seconds = noisy.nanos() / 1e9;
      double machineNanos = (double) quiet.elapsedNanos() * Runtime.getRuntime().availableProcessors();
      return new Row(phase, HttpKmsReport.Figures.of(quiet), noisy.served() / seconds, noisy.throttled() / seconds,
          sample.noisyErrors(), quiet.processCpuNanos() / machineNanos, noisy.cpuNanos() / machineNanos);
    }
  }

  /** What {@link OverloadBenchmark} found, one {@link Row} per {@link Phase} in order. */
  record Report(HttpKmsReport.Machine machine, Settings settings, List<Row> rows) {
    /** The quiet client's p99 beside the noisy client that hammers, over its p99 alone: the goal is at most 2. */
    @JsonProperty
    public double p99Ratio() {
      return p99OverAlone(Phase.HAMMERING);
    }

    private double p99OverAlone(Phase phase) {
      return rows.get(phase.ordinal()).quiet().p99Millis() / rows.get(Phase.ALONE.ordinal()).quiet().p99Millis();
    }

    /** Why the run does not show what it is meant to; empty when it does. */
    @JsonProperty
    public List<String> problems() {
      List<String> problems = new ArrayList<>();
      for (Row row : rows) {
        if (!row.noisyErrors().isEmpty()) {
          problems.add(row.phase().label + ": the noisy client got answers other than success or throttling: "
              + row.noisyErrors());
        }
      }
      if (rows.get(Phase.HAMMERING.ordinal()).noisyThrottledPerSecond() == 0) {
        problems.add("the noisy client was never throttled: it did not exceed its quota");
      }
      return problems;
    }

    void print(PrintStream out) {
      out.printf(Locale.ROOT, "%nEncrypt 32 B over HTTP; every access key limited to %.0f requests/s%n",
          settings.quota());
      out.printf(Locale.ROOT, "%s, %d processors, load average %.2f before the run; %s, %s%n", machine.time(),
          machine.processors(), machine.loadAverage(), machine.java(), machine.os());
      out.printf(Locale.ROOT, "quiet: open loop at %.0f calls/s, %d thread(s); noisy: %d threads back to back, the"
          + " SDK's default retry mode %s; %d rounds of the phases in turn, each phase: warm-up %.1f s, then"
          + " %.1f s%nCPU: of the machine's, this process's (server and both clients), the noisy client's threads',"
          + " other processes'%n%n", settings.quietRate(), settings.quietThreads(), settings.noisyThreads(),
          settings.sdkRetryMode(), settings.rounds(), settings.warmUpSeconds(), settings.durationSeconds());
      out.printf(Locale.ROOT, "| %-18s | %7s | %7s | %6s | %6s | %6s | %9s | %11s | %6s | %7s | %5s | %6s |%n",
          "phase", "quiet", "quiet/s", "p50 ms", "p99 ms", "max ms", "noisy ok/s", "throttled/s", "errors",
          "process", "noisy", "others");
      out.printf(Locale.ROOT, "|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%n", "-".repeat(20), "-".repeat(8),
          "-".repeat(8), "-".repeat(7), "-".repeat(7), "-".repeat(7), "-".repeat(10), "-".repeat(12), "-".repeat(7),
          "-".repeat(8), "-".repeat(6), "-".repeat(7));
      for (Row row : rows) {
        HttpKmsReport.Figures quiet = row.quiet();
        out.printf(Locale.ROOT,
            "| %-18s | %,7d | %7.1f | %6.2f | %6.2f | %6.2f | %,10.0f | %,11.0f | %,6d | %6.0f%% | %4.0f%%"
                + " | %5.0f%% |%n",
            row.phase().label, quiet.calls(), quiet.perSecond(), quiet.p50Millis(), quiet.p99Millis(),
            quiet.maxMillis(), row.noisyServedPerSecond(), row.noisyThrottledPerSecond(),
            row.noisyErrors().values().stream().mapToLong(Long::longValue).sum(), 100 * row.processCpuShare(),
            100 * row.noisyCpuShare(), 100 * quiet.othersCpuShare());
      }
      out.printf(Locale.ROOT, "%nquiet p99 beside the hammering noisy client / alone: %.2f (goal: at most 2)%n",
          p99Ratio());
      out.printf(Locale.ROOT, "quiet p99 beside the retrying noisy client / alone: %.2f%n",
          p99OverAlone(Phase.RETRYING));
    }
  }

  /**
   * Threads that send one call back to back until closed, counting its answers rather than failing on
   * them; none for a phase with no noisy client.
   */
  private static final class Noisy implements AutoCloseable {
    private static final ThreadMXBean THREAD_CPU = ManagementFactory.getThreadMXBean();

    private final LongAdder served = new LongAdder();
    private final LongAdder throttled = new LongAdder();
    private final ConcurrentMap<String, LongAdder> errors = new ConcurrentHashMap<>();
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean closed;

    static Noisy start(int threadCount, Runnable call) {
      Noisy noisy = new Noisy();
      for (int i = 0; i < threadCount; i++) {
        Thread thread = new Thread(() -> noisy.callUntilClosed(call), "noisy-" + (i + 1));
        thread.setDaemon(true);
        noisy.threads.add(thread);
        thread.start();
      }
      return noisy;
    }

    private void callUntilClosed(Runnable call) {
      while (!closed) {
        try {
          call.run();
          served.increment();
        } catch (AwsServiceException e) {
          // What AWS answers over a quota, exactly; a 429 or a 503 would be a throttle of another kind.
          if (e.statusCode() == 400 && "ThrottlingException".equals(e.awsErrorDetails().errorCode())) {
            throttled.increment();
          } else {
            count(e.statusCode() + " " + e.awsErrorDetails().errorCode());
          }
        } catch (RuntimeException e) {
          String message = Strings.nullToEmpty(e.getMessage()).lines().findFirst().orElse("");
          count(e.getClass().getSimpleName() + ": " + message);
        }
      }
    }

    private void count(String error) {
      errors.computeIfAbsent(error, key -> new LongAdder()).increment();
    }

    /** The calls served and throttled so far, the time and the threads' CPU time: to subtract from a later snapshot. */
    Counts counts() {
      long cpuNanos = 0;
      for (Thread thread : threads) {
        cpuNanos += Math.max(0, THREAD_CPU.getThreadCpuTime(thread.getId()));
      }
      return new Counts(System.nanoTime(), served.sum(), throttled.sum(), cpuNanos);
    }

    /** Every other answer so far, by kind, with how many times. */
    Map<String, Long> errors() {
      Map<String, Long> counts = new TreeMap<>();
      errors.forEach((error, count) -> counts.put(error, count.sum()));
      return counts;
    }

    @Override
    public void close() throws InterruptedException {
      closed = true;
      for (Thread thread : threads) {
        thread.join(TimeUnit.MINUTES.toMillis(1));
      }
    }

    record Counts(long nanos, long served, long throttled, long cpuNanos) {
      /** What happened between {@code before} and this snapshot. */
      Counts since(Counts before) {
        return new Counts(nanos - before.nanos(), served - before.served(), throttled - before.throttled(),
            cpuNanos - before.cpuNanos());
      }

      /** This window and {@code other} as one. */
      Counts plus(Counts other) {
        return new Counts(nanos + other.nanos(), served + other.served(), throttled + other.throttled(),
            cpuNanos + other.cpuNanos());
      }
    }
  }
}
