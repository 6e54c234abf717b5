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
 * A failover-drill tool: takes chosen tokens of a PKCS#11 library down and brings them back, or makes
 * them hang and releases them, while the library's other tokens keep answering, so that a benchmark
 * or a test can watch a client lose one HSM of a cluster and regain it.
 *
 * <p>This is a fault-injecting wrapper around the real module, not a mock. {@link #module()} is a
 * PKCS#11 library ({@code outage-shim.c}, compiled here with gcc) that forwards every call to the
 * real library; load it with {@code Pkcs11Module.load(outages.module())} in place of the real one.
 * While a token is down, the shim answers {@code CKR_DEVICE_REMOVED} to {@code C_GetTokenInfo},
 * {@code C_OpenSession} and every call on a session of that token, without reaching the real token
 * (closing sessions still works, so nothing leaks); once it is back, calls reach the real token
 * again, which never noticed: its keys are all there.
 *
 * <p>A hanging token is a network HSM that stops answering without refusing: {@code C_OpenSession}
 * and every call on a session of that token block inside the shim, before the real library, until
 * {@link #release}; the other tokens answer as before. {@code C_GetTokenInfo} (so finding tokens by
 * label) and closing sessions never block. See {@link #hang}.
 *
 * <p>A token may also refuse {@code C_GenerateKey} alone, in time and making nothing
 * ({@link #refuseKeyGeneration}), as SoftHSM2 was once seen doing under concurrent use.
 *
 * <p>A token is down while its marker file exists: {@code <workDir>/down/<label>} with every '/'
 * replaced by '_' ({@code cluster-abc/hsm2} becomes {@code cluster-abc_hsm2}); it hangs while
 * {@code <workDir>/down/<label>.hang} exists. The shim looks for them on every call, so a change takes
 * effect at the next call (a release within the shim's 20 ms poll), and another process (a shell's
 * {@code touch}) may take tokens down or make them hang too. A token that hangs while down blocks,
 * then fails once released. One instance per {@code workDir}.
 *
 * <p>The checks cost every call on a session a {@code C_GetSessionInfo} and two {@code access(2)}:
 * measure throughput against the real library, and use this to measure behaviour during an outage.
 *
 * <p>Thread-safe.
 */
public final class HsmOutages {
  private static final String SOURCE = "outage-shim.c";
  /** The shim trims only this padding from CK_TOKEN_INFO labels. */
  private static final CharMatcher BLANK = CharMatcher.is(' ');
  /** Appended to a token's marker name, names the file that makes it hang, as in the shim. */
  private static final String HANG_SUFFIX = ".hang";
  private static final String REFUSE_KEYGEN_SUFFIX = ".refuse-keygen";

  private final Path module;
  private final Path markers;

  private HsmOutages(Path module, Path markers) {
    this.module = module;
    this.markers = markers;
  }

  /**
   * Compiles the shim into {@code workDir} ({@code outage-shim.so}), forwarding to {@code realModule},
   * with its marker directory {@code workDir/down} (created if absent; markers an earlier run left
   * there still count, hang markers too: a test that made a token hang releases it when done).
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

  /** Where the marker files of down and hanging tokens live. */
  public Path markerDirectory() {
    return markers;
  }

  /** Makes the token labelled {@code tokenLabel} unreachable from the next call on; idempotent. */
  public void takeDown(String tokenLabel) {
    create(markerOf(tokenLabel), "take token '" + tokenLabel + "' down");
  }

  /** Makes the token labelled {@code tokenLabel} reachable again from the next call on; idempotent. */
  public void bringBack(String tokenLabel) {
    delete(markerOf(tokenLabel), "bring token '" + tokenLabel + "' back");
  }

  public boolean isDown(String tokenLabel) {
    return Files.exists(markerOf(tokenLabel));
  }

  /**
   * Makes the token labelled {@code tokenLabel} hang from the next call on, as a network HSM that stops
   * answering without refusing; idempotent. Until {@link #release}, {@code C_OpenSession} on its slot
   * and every call on a session of its slot block in the shim before they reach the real library, so
   * they hold none of its locks and the library's other tokens answer as before. {@code C_GetTokenInfo},
   * {@code C_GetSlotList}, {@code C_GetSlotInfo}, {@code C_GetMechanism*}, {@code C_CloseSession} and
   * {@code C_CloseAllSessions} still answer at once.
   *
   * <p>A call blocked in the shim cannot be interrupted or timed out, as a call into a real hung library
   * cannot: {@link Thread#interrupt} does not reach native code. It goes on once the token is released
   * (to the real library, or failing with {@code CKR_DEVICE_REMOVED} if the token was taken down
   * meanwhile), so a test must release every token it made hang, or its blocked threads never end.
   */
  public void hang(String tokenLabel) {
    create(hangMarkerOf(tokenLabel), "make token '" + tokenLabel + "' hang");
  }

  /**
   * Lets the token labelled {@code tokenLabel} answer again; idempotent. Calls blocked on it go on
   * within the shim's poll interval (20 ms), in no set order, and later calls no longer block.
   */
  public void release(String tokenLabel) {
    delete(hangMarkerOf(tokenLabel), "release token '" + tokenLabel + "'");
  }

  public boolean isHanging(String tokenLabel) {
    return Files.exists(hangMarkerOf(tokenLabel));
  }

  /**
   * Makes the token labelled {@code tokenLabel} refuse {@code C_GenerateKey} from the next call on, with
   * {@code CKR_TEMPLATE_INCONSISTENT} and without reaching the real library, so that nothing is made;
   * every other call answers as before. Idempotent; {@link #allowKeyGeneration} ends it.
   */
  public void refuseKeyGeneration(String tokenLabel) {
    create(suffixed(tokenLabel, REFUSE_KEYGEN_SUFFIX), "make token '" + tokenLabel + "' refuse key generation");
  }

  /** Lets the token labelled {@code tokenLabel} generate keys again from the next call on; idempotent. */
  public void allowKeyGeneration(String tokenLabel) {
    delete(suffixed(tokenLabel, REFUSE_KEYGEN_SUFFIX), "let token '" + tokenLabel + "' generate keys");
  }

  /**
   * The marker file of {@code tokenLabel}, named as {@code outage-shim.c} names it.
   *
   * @throws IllegalArgumentException for a label that names no file, or ends in {@code .hang} or
   *     {@code .refuse-keygen}: its down marker would be another label's marker of that kind
   */
  Path markerOf(String tokenLabel) {
    String name = BLANK.trimTrailingFrom(checkNotNull(tokenLabel, "tokenLabel")).replace('/', '_');
    checkArgument(!name.isEmpty() && !name.equals(".") && !name.equals(".."),
        "token label '%s' names no marker file", tokenLabel);
    checkArgument(name.indexOf('\0') < 0, "token label '%s' holds a NUL", tokenLabel);
    for (String suffix : new String[] {HANG_SUFFIX, REFUSE_KEYGEN_SUFFIX}) {
      checkArgument(!name.endsWith(suffix),
          "token label '%s' ends in %s, so its marker would be another token's", tokenLabel, suffix);
    }
    return markers.resolve(name);
  }

  /** The hang marker file of {@code tokenLabel}: its marker with {@code .hang} appended. */
  Path hangMarkerOf(String tokenLabel) {
    return suffixed(tokenLabel, HANG_SUFFIX);
  }

  /** Creates {@code marker} if it is not there; {@code what} says why, for the failure. */
  private static void create(Path marker, String what) {
    try {
      Files.createFile(marker);
    } catch (FileAlreadyExistsException alreadyThere) {
      // idempotent
    } catch (IOException e) {
      throw new UncheckedIOException("cannot " + what + ": " + marker, e);
    }
  }

  /** Deletes {@code marker} if it is there; {@code what} says why, for the failure. */
  private static void delete(Path marker, String what) {
    try {
      Files.deleteIfExists(marker);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot " + what + ": " + marker, e);
    }
  }

  private Path suffixed(String tokenLabel, String suffix) {
    Path marker = markerOf(tokenLabel);
    return marker.resolveSibling(marker.getFileName() + suffix);
  }

  @Override
  public String toString() {
    return "HsmOutages[" + module + " -> " + markers + "]";
  }
}
