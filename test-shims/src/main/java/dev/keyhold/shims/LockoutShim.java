package dev.keyhold.shims;

import java.nio.file.Path;
import java.util.Map;

/**
 * Builds {@code lockout-shim.c}: a PKCS#11 library that forwards to a real one and locks the user
 * after 5 consecutive wrong PINs, as AWS CloudHSM does and SoftHSM2 never does. A fault-injecting
 * wrapper around the real token, not a mock of it.
 *
 * <p>It is built in {@code target/} of the module whose tests run. Without gcc or SoftHSM2's header
 * the build fails with what to install; it never skips.
 */
public final class LockoutShim {
  private static Path library; // guarded by LockoutShim.class

  private LockoutShim() {}

  /** The shim over {@code realModule}, as an absolute path, compiled on the first call in this JVM. */
  public static synchronized Path library(Path realModule) {
    if (library == null) {
      library = ShimCompiler.compile("lockout-shim.c", Path.of("target"),
          Map.of("REAL_MODULE", realModule.toAbsolutePath().toString()));
    }
    return library;
  }
}
