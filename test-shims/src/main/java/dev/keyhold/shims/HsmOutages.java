package dev.keyhold.shims;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.base.CharMatcher;
import com.google.common.collect.ImmutableMap;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A failover-drill tool: takes chosen tokens of a PKCS#11 library down and brings them back, while
 * the library's other tokens keep answering, so that a benchmark or a test can watch a client lose
 * one HSM of a cluster and regain it.
 *
 * <p>This is a fault-injecting wrapper around the real module, not a mock. {@link #module()} is a
 * PKCS#11 library ({@code outage-shim.c}, compiled here with gcc) that forwards every call to the
 * real library; load it with {@code Pkcs11Module.load(outages.module())} in place of the real one.
 * While a token is down, the shim answers {@code CKR_DEVICE_REMOVED} to {@code C_GetTokenInfo},
 * {@code C_OpenSession} and every call on a session of that token, without reaching the real token
 * (closing sessions still works, so nothing leaks); once it is back, calls reach the real token
 * again, which never noticed: its keys are all there.
 *
 * <p>A token is down while its marker file exists: {@code <workDir>/down/<label>} with every '/'
 * replaced by '_' ({@code cluster-abc/hsm2} becomes {@code cluster-abc_hsm2}). The shim looks for it
 * on every call, so a change takes effect at the next call, and another process (a shell's
 * {@code touch}) may take tokens down too. One instance per {@code workDir}.
 *
 * <p>The check costs every call on a session a {@code C_GetSessionInfo} and an {@code access(2)}:
 * measure throughput against the real library, and use this to measure behaviour during an outage.
 *
 * <p>Thread-safe.
 */
public final class HsmOutages {
  private static final String SOURCE = "outage-shim.c";
  /** The shim trims only this padding from CK_TOKEN_INFO labels. */
  private static final CharMatcher BLANK = CharMatcher.is(' ');

  private final Path module;
  private final Path markers;

  private HsmOutages(Path module, Path markers) {
    this.module = module;
    this.markers = markers;
  }

  /**
   * Compiles the shim into {@code workDir} ({@code outage-shim.so}), forwarding to {@code realModule},
   * with its marker directory {@code workDir/down} (created if absent; markers an earlier run left
   * there still count).
   *
   * @param realModule the PKCS#11 library to wrap, e.g. {@code /usr/lib/softhsm/libsofthsm2.so}
   * @throws IllegalStateException if gcc or SoftHSM2's header is missing (with what to install)
   */
  public static HsmOutages create(Path workDir, Path realModule) {
    Path dir = checkNotNull(workDir, "workDir").toAbsolutePath().normalize();
    Path real = checkNotNull(realModule, "realModule").toAbsolutePath().normalize();
    checkArgument(Files.isReadable(real), "PKCS#11 library %s does not exist or cannot be read", real);
    Path markers = dir.resolve("down");
    try {
      Files.createDirectories(markers);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + markers, e);
    }
    Path shim = ShimCompiler.compile(SOURCE, dir,
        ImmutableMap.of("REAL_MODULE", real.toString(), "OUTAGE_DIR", markers.toString()));
    return new HsmOutages(shim, markers);
  }

  /** The shim library: use it wherever the real library's path would go. */
  public Path module() {
    return module;
  }

  /** Where the marker files of down tokens live. */
  public Path markerDirectory() {
    return markers;
  }

  /** Makes the token labelled {@code tokenLabel} unreachable from the next call on; idempotent. */
  public void takeDown(String tokenLabel) {
    Path marker = markerOf(tokenLabel);
    try {
      Files.createFile(marker);
    } catch (FileAlreadyExistsException alreadyDown) {
      // idempotent
    } catch (IOException e) {
      throw new UncheckedIOException("cannot take token '" + tokenLabel + "' down: " + marker, e);
    }
  }

  /** Makes the token labelled {@code tokenLabel} reachable again from the next call on; idempotent. */
  public void bringBack(String tokenLabel) {
    Path marker = markerOf(tokenLabel);
    try {
      Files.deleteIfExists(marker);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot bring token '" + tokenLabel + "' back: " + marker, e);
    }
  }

  public boolean isDown(String tokenLabel) {
    return Files.exists(markerOf(tokenLabel));
  }

  /** The marker file of {@code tokenLabel}, named as {@code outage-shim.c} names it. */
  Path markerOf(String tokenLabel) {
    String name = BLANK.trimTrailingFrom(checkNotNull(tokenLabel, "tokenLabel")).replace('/', '_');
    checkArgument(!name.isEmpty() && !name.equals(".") && !name.equals(".."),
        "token label '%s' names no marker file", tokenLabel);
    checkArgument(name.indexOf('\0') < 0, "token label '%s' holds a NUL", tokenLabel);
    return markers.resolve(name);
  }

  @Override
  public String toString() {
    return "HsmOutages[" + module + " -> " + markers + "]";
  }
}
