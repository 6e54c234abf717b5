package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKU_SO;

import com.google.common.base.Strings;
import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xipki.pkcs11.wrapper.ModuleInfo;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;
import org.xipki.pkcs11.wrapper.TokenException;
import org.xipki.pkcs11.wrapper.TokenInfo;

/**
 * A loaded and initialised PKCS#11 library.
 *
 * <p>A process may call {@code C_Initialize} once per library, so {@link #load} shares one instance per
 * path and counts its users; the last {@link #close} calls {@code C_Finalize}. The library is
 * initialised with {@code CKF_OS_LOCKING_OK}: SoftHSM2 crashes under concurrent use without it.
 *
 * <p>Tokens are found by label, never by slot number, because SoftHSM2 renumbers slots.
 *
 * <p>A library whose token went away may need a new {@code C_Initialize} before it sees the token
 * again (p11-kit's remote client, network HSMs). {@link Token} asks for that through {@link #recover};
 * every call into the library holds {@link #callLock()} so that {@code C_Finalize} never runs under a
 * call in flight.
 */
public final class Pkcs11Module implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Pkcs11Module.class);
  private static final Map<Path, Pkcs11Module> LOADED = new HashMap<>();

  static {
    WrapperLogging.install();
  }

  /** Shortest time between two re-initialisations, so a dead device is not hammered. */
  private static final Duration RECOVERY_INTERVAL = Duration.ofSeconds(1);
  /** How long a re-initialisation waits for calls in flight; a hung device may never return. */
  private static final Duration RECOVERY_WAIT = Duration.ofSeconds(10);

  private final Path library;
  private final PKCS11Module module;
  private final CryptoCalls cryptoCalls;
  private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
  /** See {@link #objectsLock}: one per token label, since every login of a token shares its objects. */
  private final Map<String, ReentrantReadWriteLock> objectLocks = new ConcurrentHashMap<>();
  private volatile long generation; // counts re-initialisations
  private long lastRecoveryNanos = System.nanoTime() - RECOVERY_INTERVAL.toNanos(); // guarded by the write lock
  private int users; // guarded by Pkcs11Module.class

  private Pkcs11Module(Path library, PKCS11Module module) {
    this.library = library;
    this.module = module;
    this.cryptoCalls = FastPath.forLibrary(library);
    LOG.info("loaded {}; AES-GCM and random calls through the {}", library, cryptoCalls.describe());
  }

  /** Loads the library at {@code library} and initialises it, or shares the instance already loaded. */
  public static Pkcs11Module load(Path library) {
    Path path = checkNotNull(library, "library").toAbsolutePath().normalize();
    synchronized (Pkcs11Module.class) {
      Pkcs11Module loaded = LOADED.get(path);
      if (loaded == null) {
        loaded = new Pkcs11Module(path, initialize(path));
        LOADED.put(path, loaded);
      }
      loaded.users++;
      return loaded;
    }
  }

  private static PKCS11Module initialize(Path path) {
    if (!Files.isReadable(path)) {
      throw new TokenFailureException("PKCS#11 library " + path + " does not exist or cannot be read", null, null);
    }
    PKCS11Module module;
    try {
      module = PKCS11Module.getInstance(path.toString());
    } catch (IOException e) {
      throw new TokenFailureException("cannot load PKCS#11 library " + path + ": " + e.getMessage(), null, e);
    }
    try {
      module.initialize();
    } catch (PKCS11Exception e) {
      throw Pkcs11Errors.translate(e, "C_Initialize", path.toString(), false, TokenProfile.SOFTHSM2);
    }
    return module;
  }

  public Path library() {
    return library;
  }

  /**
   * Which path this library's AES-GCM and random calls take, for launchers and reports: {@code FFM fast
   * path (JDK 25)} on JDK 22 and newer, else {@code IAIK wrapper (JNI)}. Every other call goes through
   * the wrapper.
   */
  public String callPath() {
    return cryptoCalls.describe();
  }

  /** The calls of the hot path into this library (see {@link CryptoCalls}). */
  CryptoCalls cryptoCalls() {
    return cryptoCalls;
  }

  /** Manufacturer, description and version of the library, for logs and benchmark reports. */
  public String describe() {
    ModuleInfo info;
    try {
      info = module.getInfo();
    } catch (TokenException e) {
      throw new TokenFailureException("C_GetInfo on " + library + " failed: " + e.getMessage(), null, e);
    }
    return info.getManufacturerID().trim() + " " + info.getLibraryDescription().trim() + " "
        + info.getLibraryVersion() + " (Cryptoki " + info.getCryptokiVersion() + ")";
  }

  /** Labels of the initialised tokens present now. */
  public ImmutableList<String> tokenLabels() {
    ImmutableList.Builder<String> labels = ImmutableList.builder();
    callLock().lock();
    try {
      for (Slot slot : slotsWithTokens()) {
        TokenInfo info = tokenInfo(slot);
        if (info.isTokenInitialized()) {
          labels.add(info.getLabel().trim());
        }
      }
    } finally {
      callLock().unlock();
    }
    return labels.build();
  }

  /**
   * The id of the slot that holds the token labelled {@code label} now, for tools configured by slot
   * (the JDK's SunPKCS11 provider); slot ids are not stable, so ask again after any token change.
   *
   * @throws TokenNotFoundException if no token carries {@code label}
   */
  public long slotId(String label) {
    return onToken(label, Slot::getSlotID);
  }

  /** Manufacturer, model, serial number and firmware of the token labelled {@code label}, for reports. */
  public String describeToken(String label) {
    return onToken(label, slot -> {
      TokenInfo info = tokenInfo(slot);
      return info.getManufacturerID().trim() + " " + info.getModel().trim() + " serial "
          + info.getSerialNumber().trim() + " firmware " + info.getFirmwareVersion();
    });
  }

  private <T> T onToken(String label, Function<Slot, T> read) {
    checkNotNull(label, "label");
    callLock().lock();
    try {
      return read.apply(findSlot(label).orElseThrow(() -> new TokenNotFoundException(
          "no token labelled '" + label + "' in " + library, null, null)));
    } finally {
      callLock().unlock();
    }
  }

  /**
   * Initialises a free slot's token as {@code label} with the SO PIN, then sets its user PIN.
   *
   * <p>This erases the free token it takes; it never touches a token that is already initialised.
   * @throws TokenFailureException if no free slot is left or a token already carries {@code label}
   */
  public void initializeToken(String label, Pin soPin, Pin userPin) {
    checkNotNull(label, "label");
    checkArgument(!label.isEmpty() && label.length() <= 32, "a token label has 1 to 32 characters: '%s'", label);
    callLock().lock();
    try {
      initializeFreeToken(label, soPin, userPin);
    } finally {
      callLock().unlock();
    }
  }

  private void initializeFreeToken(String label, Pin soPin, Pin userPin) {
    if (findSlot(label).isPresent()) {
      throw new TokenFailureException("a token labelled '" + label + "' already exists", null, null);
    }
    Slot free = slotsWithTokens().stream()
        .filter(slot -> !tokenInfo(slot).isTokenInitialized())
        .findFirst()
        .orElseThrow(() -> new TokenFailureException("no uninitialised token is left in " + library, null, null));
    char[] so = soPin.copyChars();
    char[] user = userPin.copyChars();
    try {
      // CK_TOKEN_INFO labels are 32 characters padded with blanks; the wrapper copies 32 as they come.
      char[] paddedLabel = Strings.padEnd(label, 32, ' ').toCharArray();
      module.getPKCS11Module().C_InitToken(free.getSlotID(), so, paddedLabel, true);
      Session session = free.getToken().openSession(true);
      try {
        session.login(CKU_SO, so);
        session.initPIN(user);
        session.logout();
      } finally {
        session.closeSession();
      }
    } catch (iaik.pkcs.pkcs11.wrapper.PKCS11Exception e) {
      throw Pkcs11Errors.translate(module.convertException(e), "C_InitToken", label, false, TokenProfile.SOFTHSM2);
    } catch (PKCS11Exception e) {
      throw Pkcs11Errors.translate(e, "C_InitPIN", label, false, TokenProfile.SOFTHSM2);
    } finally {
      Arrays.fill(so, '\0');
      Arrays.fill(user, '\0');
    }
  }

  /**
   * The slot whose token carries {@code label}, looked up afresh: slot ids are not stable. The caller
   * holds {@link #callLock()}.
   */
  Optional<Slot> findSlot(String label) {
    for (Slot slot : slotsWithTokens()) {
      Optional<TokenInfo> info = readableTokenInfo(slot);
      if (info.isPresent() && info.get().isTokenInitialized() && info.get().getLabel().trim().equals(label)) {
        return Optional.of(slot);
      }
    }
    return Optional.empty();
  }

  /**
   * Whether the library answers for at least one of its tokens. When it does, a token it cannot
   * reach is lost on its own (one HSM of several), and re-initialising would only cut the others off.
   */
  boolean anyTokenAnswers() {
    callLock().lock();
    try {
      return slotsWithTokens().stream().anyMatch(slot -> readableTokenInfo(slot).isPresent());
    } catch (DeviceLostException e) {
      return false;
    } finally {
      callLock().unlock();
    }
  }

  /** The slot's token info; empty when its token does not answer (one lost device must not hide the rest). */
  private Optional<TokenInfo> readableTokenInfo(Slot slot) {
    try {
      return Optional.of(slot.getToken().getTokenInfo());
    } catch (PKCS11Exception e) {
      LOG.debug("slot {} does not answer C_GetTokenInfo: {}", slot.getSlotID(), Pkcs11Errors.nameOf(e.getErrorCode()));
      return Optional.empty();
    }
  }

  private ImmutableList<Slot> slotsWithTokens() {
    checkState(isOpen(), "module %s is closed", library);
    try {
      return ImmutableList.copyOf(module.getSlotList(true));
    } catch (PKCS11Exception e) {
      throw Pkcs11Errors.translate(e, "C_GetSlotList", library.toString(), false, TokenProfile.SOFTHSM2);
    }
  }

  private TokenInfo tokenInfo(Slot slot) {
    try {
      return slot.getToken().getTokenInfo();
    } catch (PKCS11Exception e) {
      throw Pkcs11Errors.translate(e, "C_GetTokenInfo", "slot " + slot.getSlotID(), false, TokenProfile.SOFTHSM2);
    }
  }

  /** Shared by every call into the library; {@link #recover} takes it exclusively. */
  Lock callLock() {
    return lifecycle.readLock();
  }

  /**
   * Keeps the object searches of the token {@code label} apart from its object writes, on a token whose
   * searches race its writes ({@link TokenProfile#searchesRaceObjectWrites}): writes share its read
   * side, since they do not spoil one another; a search takes its write side, alone.
   */
  ReentrantReadWriteLock objectsLock(String label) {
    return objectLocks.computeIfAbsent(label, unused -> new ReentrantReadWriteLock(true));
  }

  /** Gives {@code label} a new objects lock: the old one may be held for good by a call abandoned in a hang. */
  void renewObjectsLock(String label) {
    objectLocks.put(label, new ReentrantReadWriteLock(true));
  }

  /** Changes whenever {@link #recover} re-initialised the library: every session and handle died. */
  long generation() {
    return generation;
  }

  /**
   * Re-initialises the library ({@code C_Finalize}, {@code C_Initialize}) unless another caller
   * already did since {@code seenGeneration}, or did less than a second ago. The caller must not hold
   * {@link #callLock()}.
   *
   * @throws DeviceLostException if calls in flight kept the library busy or it does not initialise
   */
  // generation is written only here, under the write lock; it is volatile for generation()'s lock-free readers.
  @SuppressWarnings("NonAtomicVolatileUpdate")
  void recover(long seenGeneration) {
    Lock exclusive = lifecycle.writeLock();
    try {
      if (!exclusive.tryLock(RECOVERY_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new DeviceLostException("calls into " + library + " did not return within "
            + RECOVERY_WAIT.toSeconds() + " s; not re-initialising under them", null, null);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DeviceLostException("interrupted while waiting to re-initialise " + library, null, e);
    }
    try {
      if (generation != seenGeneration
          || System.nanoTime() - lastRecoveryNanos < RECOVERY_INTERVAL.toNanos()) {
        return;
      }
      lastRecoveryNanos = System.nanoTime();
      try {
        module.finalize(null);
      } catch (PKCS11Exception e) {
        LOG.debug("C_Finalize of {} before re-initialising: {}", library, Pkcs11Errors.nameOf(e.getErrorCode()));
      }
      generation++;
      try {
        module.initialize();
      } catch (PKCS11Exception e) {
        throw new DeviceLostException(
            "C_Initialize of " + library + " failed: " + Pkcs11Errors.nameOf(e.getErrorCode()), Pkcs11Errors.nameOf(e.getErrorCode()), e);
      }
      LOG.warn("re-initialised {} to reach a lost token", library);
    } finally {
      exclusive.unlock();
    }
  }

  private boolean isOpen() {
    synchronized (Pkcs11Module.class) {
      return users > 0;
    }
  }

  /** Releases this user's share; the last one calls {@code C_Finalize}. Close tokens first. */
  @Override
  public void close() {
    synchronized (Pkcs11Module.class) {
      if (users == 0) {
        return;
      }
      if (--users > 0) {
        return;
      }
      LOADED.remove(library);
      lifecycle.writeLock().lock();
      try {
        module.finalize(null);
      } catch (PKCS11Exception e) {
        throw Pkcs11Errors.translate(e, "C_Finalize", library.toString(), false, TokenProfile.SOFTHSM2);
      } finally {
        lifecycle.writeLock().unlock();
      }
    }
  }

  @Override
  public String toString() {
    return "Pkcs11Module[" + library + "]";
  }
}
