package dev.keyhold.shims;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Builds the PKCS#11 shims whose C sources ship in this package ({@code lockout-shim.c},
 * {@code outage-shim.c}): small PKCS#11 libraries that forward to a real one, fixed at compile time,
 * and inject one fault that the real token cannot be made to show; and {@code cloudhsm-standin.c}
 * ({@link CloudHsmStandIn}), which stands for a whole cluster over several tokens of a real one. They are compiled where they run,
 * with gcc against SoftHSM2's {@code pkcs11.h}, because the real library's path is compiled in.
 * {@link #compileProgram} builds PKCS#11 client programs the same way, from other packages' sources.
 *
 * <p>Without gcc or the header this fails with what to install; it never skips.
 */
public final class ShimCompiler {
  static final Path HEADER = Path.of("/usr/include/softhsm/pkcs11.h");
  private static final String INSTALL =
      "run 'apt-get install gcc libsofthsm2-dev' (bin/prerequisites.sh installs them)";
  /** Included by every shim: the forwarding function list they share. */
  private static final String SHARED_HEADER = "forwarding.h";
  private static final Pattern MACRO = Pattern.compile("[A-Z_][A-Z0-9_]*");

  private ShimCompiler() {}

  /**
   * Extracts the C source {@code source} of this package into {@code directory} and compiles it there.
   *
   * @param source e.g. {@code "outage-shim.c"}
   * @param stringMacros each becomes {@code -DNAME="value"}, a C string literal (e.g. {@code REAL_MODULE})
   * @return the absolute path of the library: {@code directory/<source without .c>.so}, replaced
   *     atomically, so a process that loaded an earlier build keeps a whole file
   * @throws IllegalStateException if gcc or SoftHSM2's header is missing, or gcc fails (with its output)
   */
  public static Path compile(String source, Path directory, Map<String, String> stringMacros) {
    checkNotNull(stringMacros, "stringMacros");
    // -O1: tests build a shim for every cluster they make, and -O2 takes twice as long (1.1 s against
    // 0.6 s for the stand-in) for calls whose cost is SoftHSM2's behind them.
    ImmutableList.Builder<String> flags = ImmutableList.<String>builder().add("-O1", "-shared", "-fPIC");
    stringMacros.forEach((name, value) -> flags.add("-D" + name + "=" + cString(name, value)));
    // A shim's state (lockout counts, the real library's initialisation) must survive a dlclose
    // by the application, as an HSM's state outlives a client.
    flags.add("-Wl,-z,nodelete");
    return build(ShimCompiler.class, source, List.of(SHARED_HEADER), directory, ".so", flags.build(), List.of());
  }

  /**
   * Extracts the C source {@code source}, a resource in {@code owner}'s package, into {@code directory}
   * and compiles it there as a program against the same PKCS#11 header as the shims: a client that
   * {@code dlopen}s a PKCS#11 library itself, such as keyhold-bench's raw C route.
   *
   * @return the absolute path of the program: {@code directory/<source without .c>}, replaced atomically
   * @throws IllegalStateException if gcc or SoftHSM2's header is missing, or gcc fails (with its output)
   */
  public static Path compileProgram(Class<?> owner, String source, Path directory) {
    // -O2: such a program is a benchmark's baseline, the token's own limit.
    return build(owner, source, List.of(), directory, "", List.of("-O2"), List.of("-ldl", "-lpthread"));
  }

  private static Path build(Class<?> owner, String source, List<String> includes, Path directory, String suffix,
      List<String> flags, List<String> libraries) {
    checkArgument(checkNotNull(source, "source").endsWith(".c"), "not a C source: %s", source);
    Path dir = checkNotNull(directory, "directory").toAbsolutePath().normalize();
    if (!Files.isReadable(HEADER)) {
      throw new IllegalStateException(HEADER + " is missing, so " + source + " cannot be built: " + INSTALL);
    }
    Path output = dir.resolve(source.substring(0, source.length() - 2) + suffix);
    try {
      Files.createDirectories(dir);
      for (String include : includes) {
        extract(owner, include, dir);
      }
      Path sourceFile = extract(owner, source, dir);
      // Compiled beside the target, then moved over it: never a half-written file at that path.
      Path temporary = Files.createTempFile(dir, output.getFileName().toString(), ".tmp");
      try {
        run(ImmutableList.<String>builder()
            .add("gcc", "-Wall", "-Werror", "-I" + HEADER.getParent())
            .addAll(flags)
            .add("-o", temporary.toString(), sourceFile.toString())
            .addAll(libraries)
            .build());
        // As gcc would have left it, rather than the temporary file's owner-only mode.
        Files.setPosixFilePermissions(temporary, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.move(temporary, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } finally {
        Files.deleteIfExists(temporary);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot build " + source + " in " + dir, e);
    }
    return output;
  }

  /** Copies the resource to {@code dir/source} atomically: another JVM may be compiling the same file. */
  private static Path extract(Class<?> owner, String source, Path dir) throws IOException {
    Path target = dir.resolve(source);
    Path temporary = Files.createTempFile(dir, source, ".tmp");
    try (InputStream in = owner.getResourceAsStream(source)) {
      checkArgument(in != null, "no C source %s in package %s", source, owner.getPackageName());
      Files.copy(in, temporary, StandardCopyOption.REPLACE_EXISTING);
      Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(temporary);
    }
    return target;
  }

  private static void run(ImmutableList<String> command) throws IOException {
    Process gcc;
    try {
      gcc = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot run gcc: " + INSTALL, e);
    }
    // Read before waiting: a full pipe would block gcc.
    String output = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int status;
    try {
      status = gcc.waitFor();
    } catch (InterruptedException e) {
      gcc.destroy();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while gcc ran", e);
    }
    if (status != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed (" + status + "):\n" + output);
    }
  }

  /** {@code value} as a C string literal; no shell sits between us and gcc, so nothing else to quote. */
  private static String cString(String name, String value) {
    checkArgument(MACRO.matcher(checkNotNull(name, "macro name")).matches(), "not a macro name: '%s'", name);
    checkArgument(checkNotNull(value, "value of %s", name).chars().noneMatch(c -> c < 0x20 || c == 0x7f),
        "the value of %s holds a control character: '%s'", name, value);
    return '"' + value.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
  }
}
