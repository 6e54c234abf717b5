package dev.keyhold.bench;

import dev.keyhold.server.RequestFuzzer;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.SecretAccessKey;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The fuzzer of the server's FuzzTest ({@link RequestFuzzer}) for as many cases as asked: against
 * the {@code bin/keyhold} serving {@code --home}, or against an {@link EmbeddedKeyhold} started in
 * {@code --fresh-home}. Prints the cases per second and the answers by status and {@code __type}.
 *
 * <p>Run through {@code benchmarks/run-fuzz}. Exits 0 when every answer passed, 1 at the first that
 * did not (its seed and index printed, to replay with {@code --seed S --first I --cases 1}).
 */
@Command(name = "run-fuzz", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Sends mutated, signed KMS requests to Keyhold and checks every answer.")
public final class FuzzRun implements Callable<Integer> {
  private static final Duration PROGRESS_EVERY = Duration.ofSeconds(10);

  @Option(names = "--cases", defaultValue = "100000", paramLabel = "N", description = "Cases to send (default ${DEFAULT-VALUE}).")
  long cases;

  @Option(names = "--seed", paramLabel = "N", description = "The generator's seed (default: a random one, printed).")
  Long seed;

  @Option(names = "--first", defaultValue = "0", paramLabel = "I", description = "The first case's index (default 0).")
  long first;

  @Option(names = "--home", paramLabel = "DIR",
      description = "The home of a running bin/keyhold: its credentials.env names the endpoint and the root's key.")
  Path home;

  @Option(names = "--fresh-home", paramLabel = "DIR", description = "Start an embedded Keyhold in this new home.")
  Path freshHome;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH",
      description = "The SoftHSM2 library of --fresh-home (default ${DEFAULT-VALUE}).")
  Path module;

  @Override
  public Integer call() throws Exception {
    if ((home == null) == (freshHome == null)) {
      throw new CommandLine.ParameterException(new CommandLine(this), "give one of --home and --fresh-home");
    }
    long runSeed = seed != null ? seed : new SecureRandom().nextLong();
    if (freshHome != null) {
      try (EmbeddedKeyhold keyhold = EmbeddedKeyhold.start(freshHome, module, System.err)) {
        return fuzz(keyhold.uri(), keyhold.root(), EmbeddedKeyhold.ACCOUNT.region(), runSeed);
      }
    }
    KeyholdProcess.Credentials running = KeyholdProcess.credentials(home).orElseThrow(
        () -> new CommandLine.ParameterException(new CommandLine(this), "no Keyhold serves " + home));
    // A Credential names its principal; the signature uses only the key id and the secret.
    Credential root = new Credential(running.accessKeyId(), SecretAccessKey.of(running.secretAccessKey().toCharArray()),
        "arn:aws:iam::000000000000:root");
    return fuzz(running.endpoint(), root, running.region(), runSeed);
  }

  private int fuzz(URI endpoint, Credential caller, String region, long runSeed) throws IOException {
    System.out.printf("run-fuzz: %s, seed %d, cases %d to %d%n", endpoint, runSeed, first, first + cases - 1);
    try (RequestFuzzer fuzzer = RequestFuzzer.prepare(endpoint, caller, region)) {
      RequestFuzzer.Report report = fuzzer.run(runSeed, first, cases, PROGRESS_EVERY,
          progress -> System.out.printf("  %d cases, %.0f/s%n", progress.cases(), progress.casesPerSecond()));
      System.out.printf("%d cases in %.1f s: %.0f cases/s%n%s%n", report.cases(), report.elapsed().toMillis() / 1e3,
          report.casesPerSecond(), report.outcomeTable());
      Optional<String> failure = report.failure().or(() -> {
        try {
          return fuzzer.stillServes().map(problem -> "after the run, the service does not serve: " + problem);
        } catch (IOException e) {
          return Optional.of("after the run, the service does not answer: " + e);
        }
      });
      failure.ifPresent(problem -> System.out.println("FAILED: " + problem));
      return failure.isPresent() ? 1 : 0;
    }
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new FuzzRun()).execute(args));
  }
}
