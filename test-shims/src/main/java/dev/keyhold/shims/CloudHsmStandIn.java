package dev.keyhold.shims;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.common.io.BaseEncoding;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Builds and configures {@code cloudhsm-standin.c}: a PKCS#11 library that behaves as the AWS CloudHSM
 * client library (SDK 5) where Keyhold can tell, over N SoftHSM2 tokens that stand for one cluster's
 * HSMs. Not a mock: every key operation is SoftHSM2's; the stand-in adds what the cluster and its
 * library do around it. The C source's header comment is the full description; in short:
 *
 * <ul>
 *   <li>one slot, whose token label is {@link Builder#slotLabel}; login PIN {@code user:password} for
 *       crypto users ({@code CKU_USER}) only, checked against the stand-in's own users file; the
 *       backing tokens are logged in with their own user PIN ({@link Builder#hsmPin});
 *   <li>read-only sessions fail with {@code CKR_FUNCTION_FAILED};
 *   <li>a token key made through the slot is made on every backing HSM that answers; a session key on
 *       one; a token key is usable only while it is on {@link Builder#keyAvailabilityQuorum} answering
 *       HSMs (SDK 5's key availability check): else {@code CKR_FUNCTION_FAILED}, and the SDK's log line
 *       ({@code Key <handle> does not meet the availability requirements - The key must be available on
 *       at least 2 HSMs before being used.}) in {@link #log()};
 *   <li>a backing HSM that was down (see below) gets the token keys it missed, and loses those
 *       destroyed meanwhile, before it serves again;
 *   <li>{@code CKM_CLOUDHSM_AES_GCM}: the module draws the IV and prefixes it; {@code pIv} must be NULL.
 *       {@code CKM_AES_GCM}: the IV buffer is zeroized and the module's IV written into it;
 *   <li>functions CloudHSM lacks ({@code C_InitToken}, {@code C_InitPIN}, {@code C_SetPIN},
 *       {@code C_SetAttributeValue}, {@code C_CopyObject}, {@code C_GetObjectSize},
 *       {@code C_SeedRandom}, ...) fail with {@link Builder#missingFunction}.
 * </ul>
 *
 * <p><b>How the HSMs hold the same key.</b> For a token key, {@code C_GenerateKey} draws the value in
 * the stand-in (from the first HSM's RNG) and {@code C_CreateObject}s it with the caller's template on
 * every HSM; {@code C_UnwrapKey} is replayed on each HSM with the same wrapped bytes. This shows what a
 * client can see of a cluster: one key, the same value everywhere (a ciphertext from one HSM decrypts
 * on any other), with the caller's sensitivity and extractability. It hides that the value existed
 * outside an HSM and is kept in clear in the state directory's {@code keys} journal (so that a returning
 * HSM can be given it), and that SoftHSM2 reports such a key as imported ({@code CKA_LOCAL} false).
 *
 * <p><b>Outages.</b> Give {@link #create} an {@link HsmOutages}' module as the backing module: the
 * stand-in then reaches the backing tokens through the outage shim, and {@link HsmOutages#takeDown},
 * {@link HsmOutages#hang} on a backing token's label act on that HSM of the cluster.
 *
 * <p><b>State directory.</b> {@code standin.conf} (read at every {@code C_Initialize}), {@code users}
 * (one line per crypto user: {@code <name> <salt hex> <hex SHA-256(salt || UTF-8 password)>
 * <consecutive failed logins>}; the failure count survives {@code C_Finalize} and the process),
 * {@code keys} (the token key journal), {@code standin.log}, and the library itself. A later
 * "cloudhsm-cli" stand-in changes a password with {@link #setPassword}, or by writing that line (count
 * 0, which also unlocks the user) the same way: whole file, renamed into place.
 *
 * <p>Compiled with gcc where it runs, as the other shims; without gcc or SoftHSM2's header this fails
 * with what to install, it never skips. One instance per state directory.
 */
public final class CloudHsmStandIn {
  private static final String SOURCE = "cloudhsm-standin.c";
  private static final Pattern USER_NAME = Pattern.compile("[A-Za-z0-9_.@-]{1,127}");
  private static final SecureRandom RANDOM = new SecureRandom();

  /** What a failed GCM tag check returns (UNCONFIRMED for CloudHSM). */
  public enum BadTag {
    CKR_ENCRYPTED_DATA_INVALID,
    CKR_GENERAL_ERROR
  }

  /** What a function CloudHSM lacks returns (UNCONFIRMED for CloudHSM). */
  public enum MissingFunction {
    CKR_FUNCTION_NOT_SUPPORTED,
    CKR_GENERAL_ERROR
  }

  /** What {@code CKM_AES_GCM} encryption does with a caller's own (non-zero) IV in {@code pIv}. */
  public enum CallerIv {
    /** Zeroizes it and writes the module's IV there. */
    OVERWRITE,
    /** Fails {@code C_EncryptInit} with {@code CKR_MECHANISM_PARAM_INVALID}. */
    REFUSE
  }

  private final Path module;
  private final Path stateDir;

  private CloudHsmStandIn(Path module, Path stateDir) {
    this.module = module;
    this.stateDir = stateDir;
  }

  /** The stand-in built before, in another process, as {@link CloudHsmCliStandIn} finds it. */
  static CloudHsmStandIn existing(Path module, Path stateDir) {
    return new CloudHsmStandIn(module, stateDir);
  }

  /**
   * Starts the configuration of a stand-in whose state lives in {@code stateDir} and whose HSMs are
   * tokens of {@code backingModule} (SoftHSM2, or {@link HsmOutages#module()} in front of it).
   */
  public static Builder builder(Path stateDir, Path backingModule) {
    return new Builder(stateDir, backingModule);
  }

  /** The stand-in library: load it as the CloudHSM library would be loaded. */
  public Path module() {
    return module;
  }

  public Path stateDirectory() {
    return stateDir;
  }

  /**
   * Sets {@code user}'s password (adding the user if new) and clears its failed logins, which unlocks
   * it: what the CloudHSM CLI's {@code user change-password} does for Keyhold's purposes. Takes effect
   * at the next {@code C_Login}, in this process or another.
   */
  public void setPassword(String user, char[] password) {
    checkArgument(USER_NAME.matcher(checkNotNull(user, "user")).matches(), "not a user name: '%s'", user);
    checkNotNull(password, "password");
    synchronized (this) {
      Map<String, String> lines = readUsers();
      byte[] salt = new byte[16];
      RANDOM.nextBytes(salt);
      lines.put(user, user + " " + hex(salt) + " " + hex(hash(salt, password)) + " 0");
      writeUsers(lines);
    }
  }

  /** The consecutive failed logins the stand-in counted for {@code user}; -1 if there is no such user. */
  public int failedLogins(String user) {
    String line = readUsers().get(user);
    return line == null ? -1 : Integer.parseInt(line.substring(line.lastIndexOf(' ') + 1));
  }

  /** What the stand-in logged so far ({@code standin.log}); empty if nothing. Never holds a secret. */
  public String log() {
    try {
      return Files.readString(stateDir.resolve("standin.log"));
    } catch (NoSuchFileException none) {
      return "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Map<String, String> readUsers() {
    Map<String, String> lines = new LinkedHashMap<>();
    try {
      for (String line : Files.readAllLines(stateDir.resolve("users"))) {
        if (!line.isBlank()) {
          lines.put(line.substring(0, line.indexOf(' ')), line);
        }
      }
    } catch (NoSuchFileException none) {
      // no user yet
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return lines;
  }

  private void writeUsers(Map<String, String> lines) {
    try {
      Path temporary = Files.createTempFile(stateDir, "users", ".tmp");
      Files.write(temporary, lines.values(), UTF_8);
      Files.move(temporary, stateDir.resolve("users"), StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the users of " + stateDir, e);
    }
  }

  private static byte[] hash(byte[] salt, char[] password) {
    try {
      MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
      sha256.update(salt);
      ByteBuffer encoded = UTF_8.encode(CharBuffer.wrap(password));
      byte[] bytes = new byte[encoded.remaining()];
      encoded.get(bytes);
      sha256.update(bytes);
      Arrays.fill(bytes, (byte) 0);
      Arrays.fill(encoded.array(), (byte) 0);
      return sha256.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String hex(byte[] bytes) {
    return BaseEncoding.base16().lowerCase().encode(bytes);
  }

  @Override
  public String toString() {
    return "CloudHsmStandIn[" + module + "]";
  }

  /** The stand-in's settings, written to {@code standin.conf} by {@link #build}. */
  public static final class Builder {
    private final Path stateDir;
    private final Path backingModule;
    private String slotLabel;
    private final List<String> hsms = new ArrayList<>();
    private char[] hsmPin;
    private int maxFailedLogins = 5;
    private int keyAvailabilityQuorum = 2;
    private BadTag badTag = BadTag.CKR_ENCRYPTED_DATA_INVALID;
    private MissingFunction missingFunction = MissingFunction.CKR_FUNCTION_NOT_SUPPORTED;
    private CallerIv callerIv = CallerIv.OVERWRITE;
    private final Map<String, char[]> users = new LinkedHashMap<>();

    private Builder(Path stateDir, Path backingModule) {
      this.stateDir = checkNotNull(stateDir, "stateDir").toAbsolutePath().normalize();
      this.backingModule = checkNotNull(backingModule, "backingModule").toAbsolutePath().normalize();
    }

    /** The label of the slot's token, as clients look it up (required). */
    public Builder slotLabel(String label) {
      checkArgument(!label.isEmpty() && label.length() <= 32 && label.indexOf('\n') < 0, "bad label '%s'", label);
      this.slotLabel = label;
      return this;
    }

    /** The labels of the backing tokens, the cluster's HSMs, in routing order (1 to 8). */
    public Builder hsms(List<String> labels) {
      checkArgument(!labels.isEmpty() && labels.size() <= 8, "1 to 8 HSMs: %s", labels);
      for (String label : labels) {
        checkArgument(!label.isEmpty() && label.length() <= 32 && label.indexOf('\n') < 0, "bad label '%s'", label);
      }
      hsms.clear();
      hsms.addAll(labels);
      return this;
    }

    /** The backing tokens' user PIN, the same on each (required). Copied. */
    public Builder hsmPin(char[] pin) {
      checkArgument(pin.length > 0 && new String(pin).indexOf('\n') < 0, "bad PIN");
      this.hsmPin = pin.clone();
      return this;
    }

    /** Consecutive failed logins that lock a crypto user; 5 by default (CloudHSM's); 0: never. */
    public Builder maxFailedLogins(int max) {
      checkArgument(max >= 0, "max < 0");
      this.maxFailedLogins = max;
      return this;
    }

    /** HSMs a token key must be on before use; 2 by default (SDK 5's); 0 or 1: no check. */
    public Builder keyAvailabilityQuorum(int quorum) {
      checkArgument(quorum >= 0, "quorum < 0");
      this.keyAvailabilityQuorum = quorum;
      return this;
    }

    public Builder badTag(BadTag badTag) {
      this.badTag = checkNotNull(badTag);
      return this;
    }

    public Builder missingFunction(MissingFunction missingFunction) {
      this.missingFunction = checkNotNull(missingFunction);
      return this;
    }

    public Builder callerIv(CallerIv callerIv) {
      this.callerIv = checkNotNull(callerIv);
      return this;
    }

    /** A crypto user to create with {@code password} (copied). */
    public Builder user(String name, char[] password) {
      checkArgument(USER_NAME.matcher(name).matches(), "not a user name: '%s'", name);
      users.put(name, password.clone());
      return this;
    }

    /**
     * Writes {@code standin.conf} (replacing it: an existing stand-in in this directory reads it at
     * its next {@code C_Initialize}), adds the users, and compiles the library into the directory.
     */
    public CloudHsmStandIn build() {
      checkArgument(slotLabel != null, "slotLabel is required");
      checkArgument(!hsms.isEmpty(), "hsms are required");
      checkArgument(hsmPin != null, "hsmPin is required");
      checkArgument(Files.isReadable(backingModule), "PKCS#11 library %s does not exist or cannot be read",
          backingModule);
      List<String> conf = new ArrayList<>();
      conf.add("# written by CloudHsmStandIn; read at every C_Initialize");
      conf.add("slot_label = " + slotLabel);
      hsms.forEach(label -> conf.add("hsm = " + label));
      conf.add("hsm_pin = " + new String(hsmPin));
      conf.add("max_failed_logins = " + maxFailedLogins);
      conf.add("key_availability_quorum = " + keyAvailabilityQuorum);
      conf.add("bad_tag_rv = " + badTag);
      conf.add("missing_function_rv = " + missingFunction);
      conf.add("gcm_caller_iv = " + callerIv.name().toLowerCase(Locale.ROOT));
      try {
        Files.createDirectories(stateDir);
        Path temporary = Files.createTempFile(stateDir, "standin.conf", ".tmp");
        Files.write(temporary, conf, UTF_8);
        Files.move(temporary, stateDir.resolve("standin.conf"), StandardCopyOption.REPLACE_EXISTING,
            StandardCopyOption.ATOMIC_MOVE);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write the configuration of " + stateDir, e);
      }
      Path library = ShimCompiler.compile(SOURCE, stateDir,
          ImmutableMap.of("REAL_MODULE", backingModule.toString(), "STATE_DIR", stateDir.toString()));
      CloudHsmStandIn standIn = new CloudHsmStandIn(library, stateDir);
      users.forEach(standIn::setPassword);
      return standIn;
    }

    /** The backing token labels set so far. */
    public ImmutableList<String> hsmLabels() {
      return ImmutableList.copyOf(hsms);
    }
  }
}
