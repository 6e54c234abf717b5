package dev.keyhold.bench.harness;

import com.google.common.collect.ImmutableList;
import dev.keyhold.bench.LoadGenerator;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;

/**
 * {@code keyhold-bench}: how many operations per second, at what latency, a PKCS#11 token gives, and
 * how much of it Keyhold keeps. Runs on a token the operator names (any PKCS#11 library: SoftHSM2, the
 * AWS CloudHSM client) or on a throwaway SoftHSM2 token it makes; see {@code docs/bench-harness.md}.
 */
@Command(name = "keyhold-bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Measures token crypto throughput and latency through a raw C program (the token's own limit), Keyhold's "
            + "PKCS#11 adapter, the JDK's SunPKCS11, Keyhold's KMS operations in process and Keyhold's API over HTTP, "
            + "over payload sizes and thread counts.",
        "Writes results.csv, results.json and report.html (charts, no server needed) to --out.",
        "Without --module it runs on a throwaway SoftHSM2 token and a throwaway local Keyhold (bin/keyhold-bench "
            + "makes them). The PIN comes from --pin-env or --pin-file, never from the command line."},
    footer = {"", "Workloads: raw-c-encrypt, raw-c-decrypt, token-encrypt, token-decrypt, token-random, token-keygen, sunpkcs11-encrypt, "
        + "sunpkcs11-decrypt, kms-encrypt, kms-decrypt, kms-generate-data-key, http-encrypt, http-decrypt, "
        + "http-generate-data-key.",
        "", "AWS CloudHSM (kmsuser's password in a variable):",
        "  KEYHOLD_BENCH_PIN=... bin/keyhold-bench --module /opt/cloudhsm/lib/libcloudhsm_pkcs11.so "
            + "--token hsm1 --profile aws_cloudhsm --pin-env KEYHOLD_BENCH_PIN"})
public final class KeyholdBench implements Callable<Integer> {
  private static final String THROWAWAY_TOKEN = "keyhold-bench";

  @Spec
  CommandSpec spec;

  @Option(names = "--module", paramLabel = "PATH",
      description = "PKCS#11 library of the token under test (default: a throwaway SoftHSM2 token in --home).")
  Path module;

  @Option(names = "--token", paramLabel = "LABEL", description = "Label of the token under test (with --module).")
  String tokenLabel;

  @ArgGroup(exclusive = true)
  PinSource pinSource;

  static final class PinSource {
    @Option(names = "--pin-env", paramLabel = "VARIABLE",
        description = "Environment variable holding the password of the crypto user.")
    String variable;

    @Option(names = "--pin-file", paramLabel = "FILE",
        description = "File whose first line is the password of the crypto user.")
    Path file;
  }

  @Option(names = "--user", defaultValue = "kmsuser", paramLabel = "NAME",
      description = "Crypto user, for profiles that log in as user:password (default ${DEFAULT-VALUE}).")
  String user;

  @Option(names = "--profile", defaultValue = "SOFTHSM2", paramLabel = "PROFILE",
      description = "Token product: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}).")
  TokenProfile profile;

  @Option(names = "--workloads", split = ",", paramLabel = "NAME",
      description = "Workloads to run (default: every one that can run here).")
  List<String> workloadIds;

  @Option(names = "--payloads", split = ",", defaultValue = "32,1024,4096,16384,65536", paramLabel = "BYTES",
      description = "Payload sizes (default ${DEFAULT-VALUE}); KMS workloads stop at what AWS KMS takes.")
  List<Integer> payloads;

  @Option(names = "--threads", split = ",", defaultValue = "1,2,4", paramLabel = "N",
      description = "Thread counts (default ${DEFAULT-VALUE}).")
  List<Integer> threads;

  @Option(names = "--warmup", defaultValue = "2", paramLabel = "SECONDS",
      description = "Warm-up before every point, not recorded (default ${DEFAULT-VALUE}).")
  double warmupSeconds;

  @Option(names = "--duration", defaultValue = "5", paramLabel = "SECONDS",
      description = "Measured time of every point (default ${DEFAULT-VALUE}).")
  double durationSeconds;

  @Option(names = "--dry-pass", defaultValue = "3", paramLabel = "SECONDS",
      description = "Unrecorded passes of each workload, with the most threads, before its first point, repeated"
          + " (up to 10) until the JIT is all but idle (default ${DEFAULT-VALUE}; 0: none).")
  double dryPassSeconds;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "N",
      description = "Seed of the payloads' bytes (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--compare", split = ",", paramLabel = "A,B",
      description = "Instead of a sweep, run workloads A and B in alternation, A B A B ..., and report B/A per point.")
  List<String> compare;

  @Option(names = "--rounds", defaultValue = "3", paramLabel = "N",
      description = "Rounds of --compare per point (default ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--endpoint", paramLabel = "URL",
      description = "A running Keyhold for the http workloads (default: the embedded one); credentials from the"
          + " AWS SDK's default chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).")
  URI endpoint;

  @Option(names = "--key-id", paramLabel = "ID", description = "KMS key to use at --endpoint.")
  String keyId;

  @Option(names = "--region", defaultValue = "us-east-1", paramLabel = "REGION",
      description = "Region to sign for at --endpoint (default ${DEFAULT-VALUE}).")
  String region;

  @Option(names = "--home", paramLabel = "DIR",
      description = "Throwaway directory for the SoftHSM2 token and the embedded Keyhold; SOFTHSM2_CONF must name"
          + " DIR/softhsm/softhsm2.conf (bin/keyhold-bench sets both).")
  Path home;

  @Option(names = "--softhsm-library", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH",
      description = "SoftHSM2 library of the throwaway token and the embedded Keyhold (default ${DEFAULT-VALUE}).")
  Path softHsmLibrary;

  @Option(names = "--out", defaultValue = "keyhold-bench-results", paramLabel = "DIR",
      description = "Directory of results.csv, results.json and report.html (default ${DEFAULT-VALUE}).")
  Path out;

  @Option(names = "--render", paramLabel = "DIR",
      description = "Measure nothing: write DIR/report.html and DIR/results.csv again from DIR/results.json.")
  Path render;

  @Override
  @SuppressWarnings("ClosingStandardOutputStreams") // System.err is only passed to a factory; nothing closes it
  public Integer call() throws Exception {
    if (render != null) {
      ResultFiles.write(ResultFiles.read(render), render);
      System.out.println("report in " + render.resolve(ResultFiles.HTML));
      return 0;
    }
    ImmutableList<Workload> workloads = selectedWorkloads();
    checkSettings(workloads);
    RunInfo.Machine machine = RunInfo.Machine.now();
    String started = Instant.now().toString();
    TokenUnderTest tested;
    Pkcs11Module loaded;
    if (module == null) {
      createThrowawayDirectory();
      loaded = Pkcs11Module.load(softHsmLibrary);
      tested = TokenUnderTest.throwaway(loaded, THROWAWAY_TOKEN);
    } else {
      tested = new TokenUnderTest(module, tokenLabel, profile, profile.loginPin(user, password()),
          Optional.ofNullable(pinSource.variable));
      loaded = Pkcs11Module.load(module);
    }
    System.err.println("keyhold-bench: the adapter's AES-GCM and random calls go through the " + loaded.callPath());
    String moduleDescription = loaded.describe() + " at " + loaded.library() + ", adapter calls through the "
        + loaded.callPath();
    List<Results.Point> points = List.of();
    List<Results.Comparison> comparisons = List.of();
    int maxThreads = Collections.max(threads);
    Optional<Routes.Endpoint> httpEndpoint = Optional.ofNullable(endpoint)
        .map(uri -> new Routes.Endpoint(uri, region, DefaultCredentialsProvider.builder().build(), keyId));
    try (Routes routes = new Routes(loaded, tested, maxThreads, Optional.ofNullable(home), softHsmLibrary,
            httpEndpoint, System.err);
        LoadGenerator load = new LoadGenerator(maxThreads, seconds(warmupSeconds), seconds(durationSeconds))) {
      String tokenDescription;
      try {
        tokenDescription = tested.label() + ": " + loaded.describeToken(tested.label()) + ", profile "
            + tested.profile();
        if (workloads.stream().anyMatch(w -> w.route() == Route.RAW_C || w.route() == Route.ADAPTER
            || w.route() == Route.SUNPKCS11)) {
          routes.adapter(); // log in once, up front: a wrong PIN tried once per workload could lock the user
        }
      } catch (Pkcs11Exception e) {
        System.err.println("keyhold-bench: " + e.getMessage());
        return 1;
      }
      int runs = compare == null
          ? Sweep.runs(workloads, payloads, threads)
          : Sweep.comparisonRuns(workloads.get(0), workloads.get(1), payloads, threads, rounds);
      try (ProgressBar progress = progressBar(runs)) {
        Sweep sweep = new Sweep(routes, load, seconds(dryPassSeconds), seed, progress);
        if (compare == null) {
          points = sweep.run(workloads, payloads, threads);
        } else {
          comparisons = sweep.compare(workloads.get(0), workloads.get(1), payloads, threads, rounds);
        }
      }
      RunInfo.Settings settings = new RunInfo.Settings(workloads.stream().map(Workload::id).toList(), payloads,
          threads, dryPassSeconds, warmupSeconds, durationSeconds, seed, compare == null ? List.of() : compare, rounds,
          routes.httpTarget());
      Results results = new Results(new RunInfo(started, Instant.now().toString(), machine, RunInfo.currentJdk(),
          moduleDescription, tokenDescription, settings), Results.againstRawC(points), comparisons);
      ResultFiles.write(results, out);
      print(results, System.out);
    } finally {
      loaded.close();
    }
    System.out.println("results in " + out.resolve(ResultFiles.CSV) + ", " + out.resolve(ResultFiles.JSON)
        + " and " + out.resolve(ResultFiles.HTML));
    return 0;
  }

  private ImmutableList<Workload> selectedWorkloads() {
    List<String> ids = compare != null ? compare : workloadIds;
    if (ids == null) {
      return Arrays.stream(Workload.values())
          .filter(workload -> switch (workload.route()) {
            case RAW_C, ADAPTER, SUNPKCS11 -> true;
            case KMS -> module == null;
            case HTTP -> module == null || endpoint != null;
          })
          .collect(ImmutableList.toImmutableList());
    }
    try {
      return ids.stream().map(Workload::of).collect(ImmutableList.toImmutableList());
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage() + "; see --help for the workloads");
    }
  }

  private void checkSettings(List<Workload> workloads) {
    CommandLine line = spec.commandLine();
    if (module == null && home == null) {
      throw new ParameterException(line, "give --module and --token, or --home for a throwaway SoftHSM2 token"
          + " (bin/keyhold-bench does)");
    }
    if (module != null && (tokenLabel == null || pinSource == null)) {
      throw new ParameterException(line, "--module needs --token and one of --pin-env or --pin-file");
    }
    if (module == null && (tokenLabel != null || pinSource != null)) {
      throw new ParameterException(line, "--token, --pin-env and --pin-file go with --module");
    }
    if (endpoint != null && keyId == null) {
      throw new ParameterException(line, "--endpoint needs --key-id: the KMS key to call there");
    }
    if (compare != null && (workloads.size() != 2 || workloads.get(0) == workloads.get(1))) {
      throw new ParameterException(line, "--compare takes two different workloads, A,B");
    }
    if (threads.stream().anyMatch(n -> n < 1) || payloads.stream().anyMatch(n -> n < 1) || durationSeconds <= 0
        || warmupSeconds < 0 || dryPassSeconds < 0 || rounds < 1) {
      throw new ParameterException(line,
          "threads, payloads, --duration and --rounds must be positive, --warmup and --dry-pass not negative");
    }
  }

  private Pin password() throws IOException {
    try {
      return pinSource.variable != null ? Pin.fromEnvironment(pinSource.variable) : Pin.fromFile(pinSource.file);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  /** SoftHSM2's directory in the throwaway home: it must exist before the library's {@code C_Initialize}. */
  private void createThrowawayDirectory() {
    SoftHsmDirectory directory = SoftHsmDirectory.at(home.resolve("softhsm"));
    if (!Objects.equals(System.getenv(SoftHsmDirectory.CONFIG_VARIABLE), directory.configFile().toString())) {
      throw new ParameterException(spec.commandLine(), SoftHsmDirectory.CONFIG_VARIABLE + " must name "
          + directory.configFile() + " (bin/keyhold-bench sets it)");
    }
    directory.create();
  }

  private static ProgressBar progressBar(int runs) {
    return new ProgressBarBuilder()
        .setTaskName("keyhold-bench")
        .setInitialMax(runs)
        .setUnit(" points", 1)
        .setConsumer(new ConsoleProgressBarConsumer(System.err))
        .setStyle(ProgressBarStyle.ASCII)
        .setUpdateIntervalMillis(500)
        .build();
  }

  private static void print(Results results, PrintStream out) {
    if (!results.points().isEmpty()) {
      out.printf("%-24s %9s %7s %12s %9s %9s %9s %9s %10s %7s %7s %8s%n", "workload", "payload B", "threads",
          "ops/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "CPU us/op", "others", "JIT ms", "of raw C");
    }
    for (Results.Point p : results.points()) {
      if (p.error().isEmpty()) {
        out.printf(Locale.ROOT, "%-24s %9d %7d %,12.0f %9.2f %9.1f %9.1f %9.1f %10.1f %6.0f%% %7d %8s%n",
            p.workload(), p.payloadBytes(), p.threads(), p.opsPerSecond(), p.mbPerSecond(), p.p50Micros(),
            p.p99Micros(), p.p999Micros(), p.cpuMicrosPerOp(), p.othersCpuShare() * 100, p.jitMillis(),
            p.ofRawC() == null ? "" : String.format(Locale.ROOT, "%.0f%%", 100 * p.ofRawC()));
      } else {
        out.printf("%-24s %9d %7d failed: %s%n", p.workload(), p.payloadBytes(), p.threads(), p.error());
      }
    }
    for (Results.Comparison c : results.comparisons()) {
      out.printf(Locale.ROOT, "%s / %s, %d B x %d: %.3f (rounds %.3f to %.3f)%n", c.b(), c.a(), c.payloadBytes(),
          c.threads(), c.ratio(), c.ratioMin(), c.ratioMax());
    }
  }

  private static Duration seconds(double seconds) {
    return Duration.ofNanos(Math.round(seconds * 1e9));
  }

  public static void main(String[] args) {
    CommandLine command = new CommandLine(new KeyholdBench()).setCaseInsensitiveEnumValuesAllowed(true);
    System.exit(command.execute(args));
  }
}
