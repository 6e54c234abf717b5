package dev.keyhold.kms.keystore;

import dev.keyhold.softhsm.ShimCompiler;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.Map;

/**
 * Builds softhsm-config's {@code lockout-shim.c}: a PKCS#11 library that forwards to the SoftHSM2
 * library the tests drive and locks the user after 5 consecutive wrong PINs, as AWS CloudHSM does and
 * SoftHSM2 never does. A fault-injecting wrapper around the real token, not a mock of it.
 *
 * <p>It is built in {@code target/} (Maven runs the tests in {@code integration-tests/}). Without gcc
 * or SoftHSM2's header the build fails with what to install; it never skips.
 */
final class LockoutShim {
  private static Path library; // guarded by LockoutShim.class

  private LockoutShim() {}

  /** The shim's absolute path, compiled on the first call in this JVM. */
  static synchronized Path library() {
    if (library == null) {
      library = ShimCompiler.compile("lockout-shim.c", Path.of("target"),
          Map.of("REAL_MODULE", SoftHsmClusterExtension.modulePath().toAbsolutePath().toString()));
    }
    return library;
  }
}
