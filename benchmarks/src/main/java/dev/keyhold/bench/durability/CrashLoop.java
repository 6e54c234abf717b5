package dev.keyhold.bench.durability;

import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.keyhold.app.LocalBackend;
import dev.keyhold.app.LocalKeyhold;
import dev.keyhold.bench.EmbeddedKeyhold;
import dev.keyhold.bench.KeyholdProcess;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.ops.AuditLogVerifier;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * The crash loop of issue 12: a real Keyhold service process ({@link KeyholdProcess}) is killed with
 * SIGKILL and restarted on the same home, round after round, under concurrent CreateKey and Encrypt
 * load through the AWS SDK; nothing it acknowledged may be lost.
 *
 * <p>Each round starts the service (the first provisions the home), and the moment it serves puts
 * load on it ({@link CrashLoad}): CreateKeys, and Encrypts under acknowledged keys, those of the
 * round's first second included, while the service may still be rolling back the CreateKeys the last
 * crash interrupted. Beside the load, the round checks what earlier rounds acknowledged. Then the
 * {@link KillPlan} kills it: mostly under load with CreateKeys in flight, sometimes right after the
 * restart. After the last round the service is started once more, left alone for the reconciler, and
 * checked whole: every acknowledged key listed, Enabled and usable, every acknowledged ciphertext
 * decrypting to its plaintext, every audit line whole, every acknowledged CreateKey and Encrypt audited,
 * and the audit log's chain intact from the first line to the last.
 *
 * <p>Run through {@code benchmarks/run-crash-loop}. Exits 0 when nothing was lost, 1 when something
 * was, 2 when the loop could not run.
 */
@Command(name = "run-crash-loop", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Kills and restarts a Keyhold service under CreateKey and Encrypt load, and checks that "
        + "nothing it acknowledged was lost.")
public final class CrashLoop implements Callable<Integer> {
  private static final Duration FIRST_START_TIMEOUT = Duration.ofMinutes(5);
  private static final Duration START_TIMEOUT = Duration.ofMinutes(2);
  /** How long an under-load kill waits for a CreateKey to be in flight before it kills anyway. */
  private static final Duration IN_FLIGHT_WAIT = Duration.ofSeconds(1);
  static final String SERVICE_LOG = "crash-loop-service.log";

  @Spec
  CommandSpec spec;

  @Option(names = "--rounds", defaultValue = "20", paramLabel = "N",
      description = "Kills and restarts (default ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--seed", paramLabel = "N",
      description = "Seed of the kill schedule and the payloads (default: drawn, and printed to repeat the run).")
  Long seed;

  @Option(names = "--create-threads", defaultValue = "4", paramLabel = "N",
      description = "Threads calling CreateKey (default ${DEFAULT-VALUE}).")
  int createThreads;

  @Option(names = "--encrypt-threads", defaultValue = "2", paramLabel = "N",
      description = "Threads calling Encrypt under acknowledged keys (default ${DEFAULT-VALUE}).")
  int encryptThreads;

  @Option(names = "--min-delay", defaultValue = "0.3", paramLabel = "SECONDS",
      description = "Earliest kill under load, after the service serves (default ${DEFAULT-VALUE}).")
  double minDelay;

  @Option(names = "--max-delay", defaultValue = "3", paramLabel = "SECONDS",
      description = "Latest kill under load (default ${DEFAULT-VALUE}).")
  double maxDelay;

  @Option(names = "--after-restart-share", defaultValue = "0.25", paramLabel = "SHARE",
      description = "Share of rounds killed right after the restart, before --min-delay (default ${DEFAULT-VALUE}).")
  double afterRestartShare;

  @Option(names = "--settle", defaultValue = "6", paramLabel = "SECONDS",
      description = "Time left to the service's reconciler (a pass every 5 s) after the last restart, before the"
          + " final check (default ${DEFAULT-VALUE}).")
  double settleSeconds;

  @Option(names = "--home", paramLabel = "DIR",
      description = "Keyhold home to crash (kept). Default: a temporary one, removed if the run passes.")
  Path home;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path module;

  @Override
  public Integer call() throws Exception {
    checkSettings();
    boolean temporary = home == null;
    if (temporary) {
      home = Files.createTempDirectory("keyhold-crash-loop.");
    }
    CrashLoopReport report;
    try {
      report = run(System.out);
    } catch (IllegalStateException e) {
      System.err.println("run-crash-loop: " + e.getMessage() + "\nthe home is kept: " + home);
      return 2;
    }
    report.print(System.out);
    if (temporary && report.passed()) {
      MoreFiles.deleteRecursively(home, RecursiveDeleteOption.ALLOW_INSECURE);
    } else {
      System.out.println("home: " + home + " (the service's output is in " + home.resolve(SERVICE_LOG) + ")");
    }
    return report.passed() ? 0 : 1;
  }

  /** Runs the loop over {@code --home}, telling {@code out} each round and each loss as found. */
  CrashLoopReport run(PrintStream out) throws IOException, InterruptedException {
    checkSettings();
    if (home == null) {
      throw new ParameterException(spec.commandLine(), "the loop needs --home");
    }
    long chosenSeed = seed != null ? seed : ThreadLocalRandom.current().nextLong();
    out.printf("crash loop: %d rounds, seed %d, %d CreateKey and %d Encrypt threads, home %s%n", rounds, chosenSeed,
        createThreads, encryptThreads, home);
    long started = System.nanoTime();
    Files.createDirectories(home);
    KillPlan plan = new KillPlan(chosenSeed, minDelay, maxDelay, afterRestartShare);
    SplittableRandom payloads = new SplittableRandom(chosenSeed);
    Ledger ledger = new Ledger(out);
    AuditLines audit = new AuditLines(home.resolve(LocalKeyhold.AUDIT_LOG));
    List<CrashLoopReport.Round> done = new ArrayList<>();
    Optional<String> notRestarted = Optional.empty();
    LedgerCheck.Tally finalCheck;
    try {
      for (int number = 1; number <= rounds; number++) {
        CrashLoopReport.Round round = round(number, plan.next(), ledger, audit, payloads.split());
        done.add(round);
        out.println(round.describe(rounds));
      }
      finalCheck = finalCheck(ledger, audit, out);
    } catch (NotRestarted e) {
      out.println(e.getMessage()); // with the end of the service's output
      notRestarted = Optional.of(e.getMessage().lines().findFirst().orElse(""));
      audit.next();
      // Nothing could be asked: every item is left without an answer.
      finalCheck = new LedgerCheck.Tally(0, 0, 0, ledger.keys().size() + ledger.ciphertexts().size());
    }
    List<String> unaudited = unaudited(ledger, audit);
    return new CrashLoopReport(chosenSeed, done, notRestarted, finalCheck, ledger.keys().size(),
        ledger.ciphertexts().size(), ledger.losses(), ledger.keysLost(), ledger.ciphertextsLost(), audit.lines(),
        audit.torn(), unaudited, auditChainProblem(notRestarted.isEmpty()),
        Duration.ofNanos(System.nanoTime() - started));
  }

  /**
   * The first problem of {@code audit.log}'s chain, under the home's master key, across every crash and
   * restart; once the final check stopped the service gracefully, the log must end with its close line.
   */
  private Optional<String> auditChainProblem(boolean stoppedGracefully) throws IOException {
    return AuditLogVerifier.of(MasterKey.load(home.resolve(LocalBackend.MASTER_KEY)))
        .verify(List.of(home.resolve(LocalKeyhold.AUDIT_LOG)), stoppedGracefully).problem().map(Object::toString);
  }

  /**
   * Waits until the service of round {@code number} serves. The first start provisions the HSMs and
   * the key store, and failing it means the loop cannot run; a later one failing is a finding: the
   * service did not survive the last crash.
   */
  private KeyholdProcess.Credentials awaitServing(KeyholdProcess service, int number) throws IOException,
      InterruptedException {
    try {
      return service.awaitCredentials(number == 1 ? FIRST_START_TIMEOUT : START_TIMEOUT);
    } catch (IllegalStateException e) {
      if (number == 1) {
        throw e;
      }
      throw new NotRestarted("NOT RESTARTED: after the crash of round " + (number - 1) + " the service did not serve"
          + " again: " + e.getMessage());
    }
  }

  /** The service did not come back after a crash. */
  private static final class NotRestarted extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NotRestarted(String message) {
      super(message);
    }
  }

  /** Acknowledged requests that no audit line records as successful: AuditLog writes each line before the answer. */
  private static List<String> unaudited(Ledger ledger, AuditLines audit) {
    List<String> missing = new ArrayList<>();
    ledger.keys().stream().filter(key -> !audit.auditsSuccess(key.requestId(), "CreateKey"))
        .forEach(key -> missing.add("CreateKey " + key.requestId() + " (key " + key.keyId() + ", round " + key.round()
            + ")"));
    ledger.ciphertexts().stream().filter(ciphertext -> !audit.auditsSuccess(ciphertext.requestId(), "Encrypt"))
        .forEach(ciphertext -> missing.add("Encrypt " + ciphertext.requestId() + " (key " + ciphertext.keyId()
            + ", round " + ciphertext.round() + ")"));
    return missing;
  }

  private CrashLoopReport.Round round(int number, KillPlan.Kill kill, Ledger ledger, AuditLines audit,
      SplittableRandom random) throws IOException, InterruptedException {
    long start = System.nanoTime();
    KeyholdProcess service = KeyholdProcess.start(home, serviceOptions(), home.resolve(SERVICE_LOG));
    CrashLoad load = null;
    CrashLoad.Result result;
    int inFlight;
    double serving;
    double killedAfter;
    try {
      KeyholdProcess.Credentials credentials = awaitServing(service, number);
      long servingSince = System.nanoTime();
      serving = (servingSince - start) / 1e9;
      ledger.newRound();
      try (SdkHttpClient http = EmbeddedKeyhold.httpClient(createThreads + encryptThreads + 1);
          KmsClient client = credentials.client(http)) {
        load = new CrashLoad(client, ledger, number, servingSince, createThreads, encryptThreads, random);
        parkUntil(servingSince + kill.delay().toNanos());
        if (kill.kind() == KillPlan.Kind.UNDER_LOAD) {
          long latest = System.nanoTime() + IN_FLIGHT_WAIT.toNanos();
          while (load.createKeysInFlight() == 0 && System.nanoTime() - latest < 0) {
            LockSupport.parkNanos(100_000);
          }
        }
        killedAfter = (System.nanoTime() - servingSince) / 1e9;
        inFlight = load.killing();
        service.kill();
        result = load.awaitEnd();
      }
    } finally {
      if (load != null) {
        load.killing();
      }
      service.kill();
    }
    AuditLines.Segment segment = audit.next();
    return new CrashLoopReport.Round(number, kill.kind(), serving, killedAfter, inFlight, result.keys(),
        result.ciphertexts(), result.errors(), result.cut(), result.check(), segment.lines(), segment.torn());
  }

  /** Starts the service once more, leaves it to its reconciler, checks everything, and stops it gracefully. */
  private LedgerCheck.Tally finalCheck(Ledger ledger, AuditLines audit, PrintStream out)
      throws IOException, InterruptedException {
    out.printf(Locale.ROOT, "final check: restarting, then %.1f s for the reconciler ...%n", settleSeconds);
    LedgerCheck.Tally tally;
    try (KeyholdProcess service = KeyholdProcess.start(home, serviceOptions(), home.resolve(SERVICE_LOG))) {
      KeyholdProcess.Credentials credentials = awaitServing(service, rounds + 1);
      TimeUnit.MILLISECONDS.sleep(Math.round(settleSeconds * 1000));
      int threads = createThreads + encryptThreads;
      try (SdkHttpClient http = EmbeddedKeyhold.httpClient(threads); KmsClient client = credentials.client(http)) {
        tally = LedgerCheck.everything(client, ledger, threads);
      }
    }
    audit.next();
    return tally;
  }

  private List<String> serviceOptions() {
    return List.of("--port", "0", "--module", module.toString());
  }

  private void checkSettings() {
    CommandLine line = spec.commandLine();
    if (rounds < 1 || createThreads < 1 || encryptThreads < 1) {
      throw new ParameterException(line, "--rounds, --create-threads and --encrypt-threads must be at least 1");
    }
    if (!(KillPlan.EARLIEST_SECONDS < minDelay && minDelay <= maxDelay)
        || afterRestartShare < 0 || afterRestartShare > 1 || settleSeconds < 0) {
      throw new ParameterException(line, "need 0.05 < --min-delay <= --max-delay, --after-restart-share in [0, 1]"
          + " and --settle >= 0");
    }
    if (!Files.isReadable(module)) {
      throw new ParameterException(line, "no PKCS#11 library at " + module + " (install softhsm2, or give --module)");
    }
  }

  private static void parkUntil(long nanoTime) {
    for (long wait = nanoTime - System.nanoTime(); wait > 0; wait = nanoTime - System.nanoTime()) {
      LockSupport.parkNanos(wait);
    }
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new CrashLoop()).execute(args));
  }
}
