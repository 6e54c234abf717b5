package dev.keyhold.pkcs11;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Path;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses each library's {@link CryptoCalls}: the FFM fast path where it can, else the wrapper.
 *
 * <p>The fast path needs a JDK of 22 or newer at run time, and a build on one: its class,
 * {@code FfmCryptoCalls}, is compiled only then (src/main/java22), and this class knows it by name
 * alone, so that the adapter builds and runs on JDK 17. The class is looked up once per process; a
 * library for which it cannot be set up keeps the wrapper, with a warning. {@code
 * -Dkeyhold.pkcs11.fastPath=off} keeps the wrapper for every library.
 */
final class FastPath {
  /** Set to {@code off} to keep every call on the wrapper. */
  static final String PROPERTY = "keyhold.pkcs11.fastPath";
  private static final Logger LOG = LoggerFactory.getLogger(FastPath.class);
  private static final String FFM_CLASS = "dev.keyhold.pkcs11.FfmCryptoCalls";
  /** The fast path's constructor, taking the library's path; empty where it is off or unavailable. */
  private static final Optional<Constructor<? extends CryptoCalls>> FFM = ffmConstructor();

  private FastPath() {}

  /**
   * The calls for the library at {@code library}, which the wrapper has loaded and initialised: the
   * fast path's function list is that library's.
   */
  static CryptoCalls forLibrary(Path library) {
    if (FFM.isEmpty()) {
      return WrapperCryptoCalls.INSTANCE;
    }
    try {
      return FFM.get().newInstance(library);
    } catch (InvocationTargetException e) {
      LOG.warn("the FFM fast path cannot call into {}; its calls go through the IAIK wrapper", library, e.getCause());
    } catch (ReflectiveOperationException e) {
      LOG.warn("the FFM fast path cannot be set up; calls into {} go through the IAIK wrapper", library, e);
    }
    return WrapperCryptoCalls.INSTANCE;
  }

  private static Optional<Constructor<? extends CryptoCalls>> ffmConstructor() {
    int feature = Runtime.version().feature();
    if ("off".equals(System.getProperty(PROPERTY))) {
      LOG.info("PKCS#11 calls go through the IAIK wrapper: -D{}=off", PROPERTY);
      return Optional.empty();
    }
    if (feature < 22) {
      LOG.info("PKCS#11 calls go through the IAIK wrapper: the FFM fast path needs JDK 22 or newer, this is {}",
          feature);
      return Optional.empty();
    }
    try {
      return Optional.of(Class.forName(FFM_CLASS).asSubclass(CryptoCalls.class).getDeclaredConstructor(Path.class));
    } catch (ClassNotFoundException e) {
      LOG.warn("PKCS#11 calls go through the IAIK wrapper: this JDK {} runs an adapter built on a JDK older than 22,"
          + " without the FFM fast path", feature);
    } catch (ReflectiveOperationException | LinkageError e) {
      LOG.warn("PKCS#11 calls go through the IAIK wrapper: the FFM fast path does not load", e);
    }
    return Optional.empty();
  }
}
