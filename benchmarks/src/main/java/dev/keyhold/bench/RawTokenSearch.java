package dev.keyhold.bench;

import static com.google.common.base.Preconditions.checkArgument;

import dev.keyhold.pkcs11.Pin;
import dev.keyhold.shims.ShimCompiler;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * What a search of a token by label costs the PKCS#11 library itself, with no Java in between: the C
 * program {@code find-objects.c} (a resource of this package), compiled with gcc against SoftHSM2's
 * {@code pkcs11.h} where it runs, logs in to a token in a process of its own and times
 * {@code C_FindObjectsInit} (template: one {@code CKA_LABEL}) + {@code C_FindObjects} +
 * {@code C_FindObjectsFinal} for labels picked at random. That is the cost the adapter's handle index
 * saves on a key's first use; SoftHSM2 compares object by object, so it grows with the token. The
 * same program then times Encrypt on one of those keys against keys drawn at random: what the token
 * itself pays for many keys, beside which Keyhold's own random-key figures are read.
 *
 * <p>The PIN reaches the program on its standard input, never on its command line or in its
 * environment, which other users can read in {@code /proc}. The program inherits
 * {@code SOFTHSM2_CONF}, so it sees the tokens this JVM sees.
 */
final class RawTokenSearch {
  private static final String SOURCE = "find-objects.c";
  private static final long TIMEOUT_MINUTES = 30;

  private final Path program;
  private final Path library;

  private RawTokenSearch(Path program, Path library) {
    this.program = program;
    this.library = library;
  }

  /**
   * Compiles the program into {@code directory} ({@link ShimCompiler#compileProgram}), to search
   * tokens of {@code library}.
   *
   * @throws IllegalStateException if gcc or SoftHSM2's header is missing, or gcc fails (with its output)
   */
  static RawTokenSearch compile(Path directory, Path library) {
    return new RawTokenSearch(ShimCompiler.compileProgram(RawTokenSearch.class, SOURCE, directory), library);
  }

  /**
   * Logs in to the token labelled {@code tokenLabel} with {@code loginPin} and times {@code searches}
   * searches, each for one of {@code labels} picked at random; every label must name exactly one
   * object of the token.
   */
  Figures search(String tokenLabel, Pin loginPin, List<String> labels, int searches)
      throws IOException, InterruptedException {
    checkArgument(searches > 0 && !labels.isEmpty(), "nothing to search: %s searches of %s labels",
        searches, labels.size());
    String output = run(List.of(program.toString(), library.toString(), tokenLabel, Integer.toString(searches)),
        stdin -> {
          loginPin.withChars(chars -> {
            write(stdin, new String(chars));
            return null;
          });
          for (String label : labels) {
            write(stdin, label);
          }
        });
    return Figures.parse(output.strip());
  }

  private static void write(Writer stdin, String line) {
    try {
      stdin.write(line);
      stdin.write('\n');
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Runs {@code command}, feeding its standard input to {@code input}; returns its output. */
  private static String run(List<String> command, Consumer<Writer> input)
      throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (Writer stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8)) {
      input.accept(stdin);
    }
    // Read before waiting: a full pipe would block the process.
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!process.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
      process.destroyForcibly();
      throw new IllegalStateException(command.get(0) + " ran longer than " + TIMEOUT_MINUTES + " minutes");
    }
    if (process.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed (" + process.exitValue() + "): "
          + output + " (its errors went to this process's standard error)");
    }
    return output;
  }

  /**
   * One run of the program.
   *
   * @param objects the token's objects that the user sees
   * @param initMillis the program's {@code C_Initialize}: SoftHSM2 reads its token files then
   * @param loginMillis its {@code C_Login}
   * @param meanMicros the mean of one search (init, find, final)
   * @param keys the keys of the labels given, on which the program encrypted
   * @param oneKeyP50Micros an Encrypt of 32 bytes on one key (C_EncryptInit + C_Encrypt), p50
   * @param randomKeysP50Micros the same on keys drawn at random, p50: the token's own cost of many keys
   */
  record Figures(long objects, int searches, double initMillis, double loginMillis, double meanMicros,
      double p50Micros, double p99Micros, long keys, double oneKeyP50Micros, double oneKeyP99Micros,
      double randomKeysP50Micros, double randomKeysP99Micros) {
    /** Reads the program's line {@code objects=N searches=S init_ms=... random_keys_p99_us=...}. */
    static Figures parse(String line) {
      Map<String, String> fields = new HashMap<>();
      for (String field : line.split(" ")) {
        String[] nameAndValue = field.split("=", 2);
        checkArgument(nameAndValue.length == 2, "not a figure: '%s' in '%s'", field, line);
        fields.put(nameAndValue[0], nameAndValue[1]);
      }
      checkArgument(fields.keySet().containsAll(List.of("objects", "searches", "init_ms", "login_ms", "mean_us",
          "p50_us", "p99_us", "keys", "one_key_p50_us", "one_key_p99_us", "random_keys_p50_us",
          "random_keys_p99_us")), "find-objects printed '%s'", line);
      return new Figures(Long.parseLong(fields.get("objects")), Integer.parseInt(fields.get("searches")),
          Double.parseDouble(fields.get("init_ms")), Double.parseDouble(fields.get("login_ms")),
          Double.parseDouble(fields.get("mean_us")), Double.parseDouble(fields.get("p50_us")),
          Double.parseDouble(fields.get("p99_us")), Long.parseLong(fields.get("keys")),
          Double.parseDouble(fields.get("one_key_p50_us")), Double.parseDouble(fields.get("one_key_p99_us")),
          Double.parseDouble(fields.get("random_keys_p50_us")), Double.parseDouble(fields.get("random_keys_p99_us")));
    }
  }
}
