package dev.keyhold.kms.keystore;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds {@code src/test/c/lockout-shim.c}: a PKCS#11 library that forwards to the SoftHSM2 library
 * the tests drive and locks the user after 5 consecutive wrong PINs, as AWS CloudHSM does and
 * SoftHSM2 never does. A fault-injecting wrapper around the real token, not a mock of it.
 *
 * <p>Paths are relative to the working directory, which Maven sets to {@code integration-tests/}.
 * Without gcc or SoftHSM2's header the build fails with what to install; it never skips.
 */
final class LockoutShim {
  private static final Path SOURCE = Path.of("src/test/c/lockout-shim.c");
  private static final Path HEADER = Path.of("/usr/include/softhsm/pkcs11.h");

  private static Path library; // guarded by LockoutShim.class

  private LockoutShim() {}

  /** The shim's absolute path, compiled on the first call in this JVM. */
  static synchronized Path library() throws IOException, InterruptedException {
    if (library == null) {
      library = compile(Path.of("target").toAbsolutePath().resolve("lockout-shim.so"));
    }
    return library;
  }

  private static Path compile(Path target) throws IOException, InterruptedException {
    if (!Files.isReadable(SOURCE)) {
      throw new IllegalStateException(SOURCE.toAbsolutePath() + " is missing: run the tests from"
          + " integration-tests/ (Maven does)");
    }
    if (!Files.isReadable(HEADER)) {
      throw new IllegalStateException(HEADER + " is missing: run 'apt-get install libsofthsm2-dev'"
          + " (bin/test does it)");
    }
    List<String> command = List.of("gcc", "-shared", "-fPIC", "-O2", "-I" + HEADER.getParent(),
        "-DREAL_MODULE=\"" + SoftHsmClusterExtension.modulePath() + "\"",
        // The counts live in the library and must survive a dlclose (the wrapper's finalizer may make
        // one), as a lock on an HSM outlives the client that caused it.
        "-Wl,-z,nodelete",
        "-o", target.toString(), SOURCE.toString());
    Process gcc;
    try {
      gcc = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot run gcc: run 'apt-get install gcc' (bin/test does it)", e);
    }
    // Read before waiting: a full pipe would block gcc.
    String output = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (gcc.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + output);
    }
    return target;
  }
}
