package dev.keyhold.bench.harness;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.keyhold.bench.LoadGenerator;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.shims.ShimCompiler;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * The token under test through nothing but its own PKCS#11 library: {@code raw-pkcs11.c}, compiled
 * with gcc for the run into a private temporary directory, then run as one child process that logs in
 * once and measures every point it is asked for (the source's header comment gives its protocol). It
 * uses the adapter's key, found by its label, and the IVs the token's {@link TokenProfile} prescribes,
 * as the adapter does: its own under CKM_AES_GCM, or the HSM's under AWS CloudHSM's vendor mechanism.
 *
 * <p>The PIN reaches the child on its standard input, never its command line; nor its environment:
 * the variable the operator gave the PIN in is removed from the child's. The payload's bytes are the
 * program's own, since AES-GCM's speed does not depend on them.
 *
 * <p>A point's CPU time is the child's, measured by the program over the measured window; the JVM
 * waits idle meanwhile, so the other processes' share of the machine is the rest of what
 * {@code /proc/stat} counts.
 */
final class RawCRoute implements AutoCloseable {
  static final String SOURCE = "raw-pkcs11.c";
  private static final int SIGNIFICANT_DIGITS = 3;
  /** How the program's answer to a failed command starts. */
  private static final String FAILURE = "error ";

  /** What the program can run, with the word that asks for it. */
  enum Operation {
    ENCRYPT,
    DECRYPT;

    String command() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final Path buildDirectory;
  private final Process process;
  private final OutputStream commands;
  private final BufferedReader answers;

  private RawCRoute(Path buildDirectory, Process process) {
    this.buildDirectory = buildDirectory;
    this.process = process;
    this.commands = process.getOutputStream();
    this.answers = new BufferedReader(new InputStreamReader(process.getInputStream(), UTF_8));
  }

  /**
   * Compiles the program, starts it on {@code tested} and waits until it has logged in and found
   * {@code key}.
   *
   * @throws IllegalStateException if gcc or the PKCS#11 header is missing, or the program cannot log in
   *     or find the key (with the token's answer)
   */
  static RawCRoute open(TokenUnderTest tested, AesKey key) {
    Path directory;
    try {
      directory = Files.createTempDirectory("keyhold-bench-c"); // owner-only: no one else can swap the program
    } catch (IOException e) {
      throw new UncheckedIOException("cannot make a directory to build " + SOURCE + " in", e);
    }
    RawCRoute route = null;
    try {
      Path program = ShimCompiler.compileProgram(RawCRoute.class, SOURCE, directory);
      String ivMode = tested.profile().ivSource() == TokenProfile.IvSource.ADAPTER ? "caller" : "token";
      ProcessBuilder builder = new ProcessBuilder(program.toString(), tested.library().toString(), tested.label(),
          key.label(), ivMode).redirectError(ProcessBuilder.Redirect.INHERIT);
      tested.pinVariable().ifPresent(builder.environment()::remove);
      route = new RawCRoute(directory, builder.start());
      route.logIn(tested);
      return route;
    } catch (IOException | RuntimeException e) {
      if (route != null) {
        route.close();
      } else {
        deleteQuietly(directory);
      }
      throw e instanceof IOException io ? new UncheckedIOException("cannot start " + SOURCE, io)
          : (RuntimeException) e;
    }
  }

  private void logIn(TokenUnderTest tested) throws IOException {
    byte[] pin = tested.loginPin().withChars(chars -> {
      ByteBuffer encoded = UTF_8.encode(CharBuffer.wrap(chars));
      byte[] line = Arrays.copyOf(encoded.array(), encoded.limit() + 1);
      Arrays.fill(encoded.array(), (byte) 0);
      line[line.length - 1] = '\n';
      return line;
    });
    try {
      commands.write(pin);
      commands.flush();
    } finally {
      Arrays.fill(pin, (byte) 0);
    }
    String answer = answer();
    if (!answer.equals("ready")) {
      throw new IllegalStateException("the raw C route cannot start on " + tested + ": " + answer);
    }
  }

  /** {@code operation} on payloads of {@code payloadBytes}, with {@code load}'s warm-up and duration. */
  Loop loop(Operation operation, int payloadBytes, LoadGenerator load) {
    return new Loop() {
      @Override
      public LoadGenerator.Result closedLoop(int threads) {
        run(operation, payloadBytes, threads, load.warmUp());
        return run(operation, payloadBytes, threads, load.duration());
      }

      @Override
      public LoadGenerator.Result unrecorded(int threads, Duration length) {
        return run(operation, payloadBytes, threads, length);
      }
    };
  }

  /**
   * One closed loop of {@code threads} threads in the program for {@code length}; nothing is compiled
   * there, so the result's JIT time is nil.
   *
   * @throws IllegalStateException with the token's answer if a call failed
   */
  synchronized LoadGenerator.Result run(Operation operation, int payloadBytes, int threads, Duration length) {
    long windowStart = System.nanoTime();
    long machineBusyBefore = LoadGenerator.machineBusyNanos();
    String answer;
    try {
      commands.write(String.format(Locale.ROOT, "%s %d %d %d%n", operation.command(), payloadBytes, threads,
          Math.max(1, length.toMillis())).getBytes(UTF_8));
      commands.flush();
      answer = answer();
    } catch (IOException e) {
      throw new UncheckedIOException("the raw C route stopped answering", e);
    }
    long machineBusy = LoadGenerator.machineBusyNanos() - machineBusyBefore;
    long machineCpu = (System.nanoTime() - windowStart) * Runtime.getRuntime().availableProcessors();
    List<String> fields = List.of(answer.split(" "));
    if (fields.size() < 4 || !fields.get(0).equals("ok")) {
      throw new IllegalStateException("raw C " + operation.command() + ": " + answer);
    }
    long elapsedNanos = Long.parseLong(fields.get(2));
    long cpuNanos = Long.parseLong(fields.get(3));
    Histogram latencies = new Histogram(SIGNIFICANT_DIGITS);
    for (String bucket : fields.subList(4, fields.size())) {
      int colon = bucket.indexOf(':');
      latencies.recordValueWithCount(Long.parseLong(bucket.substring(0, colon)),
          Long.parseLong(bucket.substring(colon + 1)));
    }
    if (latencies.getTotalCount() != Long.parseLong(fields.get(1))) {
      throw new IllegalStateException("raw C answered " + fields.get(1) + " operations but a histogram of "
          + latencies.getTotalCount());
    }
    double othersCpuShare = Math.max(0, (double) (machineBusy - cpuNanos) / machineCpu);
    return new LoadGenerator.Result(latencies, elapsedNanos, cpuNanos, cpuNanos, othersCpuShare, 0);
  }

  /** The program's next line; for a failure, its message alone. */
  private String answer() throws IOException {
    String line = answers.readLine();
    if (line == null) {
      throw new IllegalStateException(SOURCE + " ended without an answer (its standard error says why)");
    }
    return line.startsWith(FAILURE) ? line.substring(FAILURE.length()) : line;
  }

  /** Ends the program (it logs out at the end of its input) and removes its build. */
  @Override
  public void close() {
    try {
      commands.close();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (IOException e) {
      process.destroyForcibly();
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    } finally {
      deleteQuietly(buildDirectory);
    }
  }

  private static void deleteQuietly(Path directory) {
    try {
      MoreFiles.deleteRecursively(directory, RecursiveDeleteOption.ALLOW_INSECURE);
    } catch (IOException e) {
      System.err.println("keyhold-bench: cannot remove " + directory + ": " + e);
    }
  }
}
