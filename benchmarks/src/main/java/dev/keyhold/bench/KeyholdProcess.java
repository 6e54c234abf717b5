package dev.keyhold.bench;

import static com.google.common.base.Preconditions.checkState;
import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keyhold.app.KeyholdCommand;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * The Keyhold service as {@code bin/keyhold} runs it ({@link KeyholdCommand} over a home directory,
 * provisioned on its first start), in a JVM of its own started directly, with no shell between: so
 * {@link #kill} is a SIGKILL of the service itself, a crash, and {@link #close} a graceful stop.
 *
 * <p>The child runs on this JVM's launcher and class path (the benchmarks' jar, or the test class
 * path), with {@code SOFTHSM2_CONF} naming the home's SoftHSM2 configuration and nothing secret on its
 * command line. It writes the account root's credential to {@code <home>/credentials.env} once it
 * serves; {@link #awaitCredentials} reads it from there, never from its output.
 */
public final class KeyholdProcess implements AutoCloseable {
  private static final String CREDENTIALS_FILE = "credentials.env";
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

  private final Process process;
  private final Path home;
  private final Path log;

  private KeyholdProcess(Process process, Path home, Path log) {
    this.process = process;
    this.home = home;
    this.log = log;
  }

  /**
   * Starts the service over {@code home} with the further {@code options} of {@code bin/keyhold} (such
   * as {@code --port 0}), its output appended to {@code log}. Returns at once; the service serves once
   * {@link #awaitCredentials} returns.
   */
  public static KeyholdProcess start(Path home, List<String> options, Path log) throws IOException {
    Files.createDirectories(home.resolve("softhsm"));
    // The file of an earlier run would name an earlier port: only the one this start writes counts.
    Files.deleteIfExists(home.resolve(CREDENTIALS_FILE));
    List<String> command = new ArrayList<>(List.of(java(), "-cp", System.getProperty("java.class.path"),
        KeyholdCommand.class.getName(), "--home", home.toString()));
    command.addAll(options);
    ProcessBuilder builder = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    // SoftHSM2 reads its configuration once per process, from this variable, as bin/keyhold sets it.
    builder.environment().put(SoftHsmDirectory.CONFIG_VARIABLE,
        SoftHsmDirectory.at(home.resolve("softhsm")).configFile().toString());
    return new KeyholdProcess(builder.start(), home, log);
  }

  /** This JVM's own launcher, for children that must run the same Java. */
  public static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /**
   * Waits until the service has written its credentials, which it does once it serves, and reads
   * them. Fails with the service's output if it ends first or {@code timeout} passes.
   */
  public Credentials awaitCredentials(Duration timeout) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      Optional<Credentials> written = credentials(home);
      if (written.isPresent()) {
        return written.get();
      }
      if (!process.isAlive()) {
        throw new IllegalStateException("Keyhold ended with exit code " + process.exitValue()
            + " before it served; its output (" + log + "):\n" + logTail());
      }
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("Keyhold did not serve within " + timeout.toSeconds()
            + " s; its output (" + log + "):\n" + logTail());
      }
      Thread.sleep(20); // short: a crash drill wants load on the service as soon as it serves
    }
  }

  /**
   * Crashes the service: SIGKILL to its JVM (no shutdown hook, no request finished, nothing flushed
   * that was not already written), then waits until it is gone.
   */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    checkState(process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS), "Keyhold (pid %s) outlived SIGKILL",
        process.pid());
  }

  /**
   * Stops the service gracefully (SIGTERM: requests in flight finish) and waits until it is gone; kills
   * it if it is still there after a while, or if this thread is interrupted meanwhile.
   */
  @Override
  public void close() {
    process.destroy();
    try {
      if (process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        return;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    process.destroyForcibly();
  }

  /** The end of the service's output, for a message saying why it failed. */
  public String logTail() {
    try {
      List<String> lines = Files.readAllLines(log, UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  /** The credentials the service serving {@code home} wrote there; empty until it has written them whole. */
  public static Optional<Credentials> credentials(Path home) throws IOException {
    Map<String, String> variables = readEnvironment(home.resolve(CREDENTIALS_FILE));
    // The endpoint is written after the credential: with it, the file is whole.
    if (!variables.containsKey("KEYHOLD_ENDPOINT")) {
      return Optional.empty();
    }
    return Optional.of(new Credentials(URI.create(variables.get("KEYHOLD_ENDPOINT")),
        variables.get("AWS_DEFAULT_REGION"), variables.get("AWS_ACCESS_KEY_ID"), variables.get("AWS_SECRET_ACCESS_KEY")));
  }

  private static Map<String, String> readEnvironment(Path file) throws IOException {
    Map<String, String> variables = new HashMap<>();
    try {
      for (String line : Files.readAllLines(file, UTF_8)) {
        String[] pair = line.replaceFirst("^export ", "").split("=", 2);
        if (pair.length == 2) {
          variables.put(pair[0], pair[1]);
        }
      }
    } catch (NoSuchFileException notYet) {
      // not written yet
    }
    return variables;
  }

  /**
   * Where a running Keyhold serves and the account root's credential for it. {@link #toString} leaves
   * the secret out, so a credential logged by mistake shows none.
   */
  public record Credentials(URI endpoint, String region, String accessKeyId, String secretAccessKey) {
    public AwsCredentialsProvider provider() {
      return StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKeyId, secretAccessKey));
    }

    /** A client that signs as the root and never retries (see {@link EmbeddedKeyhold#client}). */
    public KmsClient client(SdkHttpClient http) {
      return EmbeddedKeyhold.client(endpoint, region, provider(), http);
    }

    /** The variables the AWS SDKs and CLI read the credential from, for a child process's environment. */
    public Map<String, String> environment() {
      return Map.of("AWS_ACCESS_KEY_ID", accessKeyId, "AWS_SECRET_ACCESS_KEY", secretAccessKey,
          "AWS_REGION", region);
    }

    @Override
    public String toString() {
      return "Credentials[endpoint=" + endpoint + ", region=" + region + ", accessKeyId=" + accessKeyId + "]";
    }
  }
}
