package dev.keyhold.pkcs11;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSet;
import org.xipki.pkcs11.wrapper.PKCS11Constants;
import org.xipki.pkcs11.wrapper.PKCS11Constants.Category;
import org.xipki.pkcs11.wrapper.PKCS11Exception;

/**
 * Turns PKCS#11 return values into the adapter's exception types, and says which of them leave a
 * session unfit for reuse. Every {@code CKR_*} value lands in exactly one type; values not listed
 * here become {@link TokenFailureException}.
 */
final class Pkcs11Errors {
  /** Builds one of the adapter's exceptions. */
  @FunctionalInterface
  private interface Factory {
    Pkcs11Exception create(String message, String returnValue, Throwable cause);
  }

  private static final ImmutableMap<Long, Factory> TYPES =
      ImmutableMap.<Long, Factory>builder()
          .putAll(each(BadCredentialsException::new,
              CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE, CKR_USER_PIN_NOT_INITIALIZED))
          .putAll(each(PinLockedException::new, CKR_PIN_LOCKED, CKR_PIN_EXPIRED))
          .putAll(each(ObjectNotFoundException::new, CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID))
          .putAll(each(InvalidCiphertextException::new,
              CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_AEAD_DECRYPT_FAILED))
          // The token, the session or the login behind it is gone; a reconnect is the only cure.
          .putAll(each(DeviceLostException::new,
              CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED, CKR_DEVICE_MEMORY, CKR_TOKEN_NOT_PRESENT,
              CKR_TOKEN_NOT_RECOGNIZED, CKR_SLOT_ID_INVALID, CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED,
              CKR_CRYPTOKI_NOT_INITIALIZED, CKR_USER_NOT_LOGGED_IN))
          .putAll(each(SessionsExhaustedException::new, CKR_SESSION_COUNT))
          .putAll(each(UnsupportedByTokenException::new,
              CKR_FUNCTION_NOT_SUPPORTED, CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
              CKR_ATTRIBUTE_TYPE_INVALID, CKR_SESSION_READ_ONLY, CKR_SESSION_PARALLEL_NOT_SUPPORTED))
          .build();

  /**
   * Results after which the session is known to hold no active operation. After any other, an
   * operation may still be active (SoftHSM2 answers {@code CKR_ARGUMENTS_BAD} before it ends one),
   * so the session is closed rather than pooled again.
   */
  private static final ImmutableSet<Long> SESSION_STAYS_CLEAN =
      ImmutableSet.of(
          CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE, CKR_USER_PIN_NOT_INITIALIZED,
          CKR_PIN_LOCKED, CKR_PIN_EXPIRED,
          CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID,
          CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_AEAD_DECRYPT_FAILED);

  private Pkcs11Errors() {}

  /**
   * The adapter's exception for {@code returnValue} from {@code function} on {@code tokenLabel}.
   *
   * @param decrypting whether the call was an AEAD decryption, where some profiles report a failed tag
   *     check as {@code CKR_GENERAL_ERROR}
   */
  static Pkcs11Exception translate(
      long returnValue, String function, String tokenLabel, boolean decrypting, TokenProfile profile,
      Throwable cause) {
    String name = nameOf(returnValue);
    String message = function + " on token '" + tokenLabel + "' failed: " + name;
    Factory type = isBadTagInDisguise(returnValue, decrypting, profile)
        ? InvalidCiphertextException::new
        : TYPES.getOrDefault(returnValue, TokenFailureException::new);
    return type.create(message, name, cause);
  }

  static Pkcs11Exception translate(
      PKCS11Exception e, String function, String tokenLabel, boolean decrypting, TokenProfile profile) {
    return translate(e.getErrorCode(), function, tokenLabel, decrypting, profile, e);
  }

  /** Whether a session that saw {@code returnValue} must be closed rather than pooled again. */
  static boolean breaksSession(long returnValue, boolean decrypting, TokenProfile profile) {
    return !SESSION_STAYS_CLEAN.contains(returnValue) && !isBadTagInDisguise(returnValue, decrypting, profile);
  }

  static String nameOf(long returnValue) {
    return PKCS11Constants.codeToName(Category.CKR, returnValue); // unknown values read CKR_0X...
  }

  private static boolean isBadTagInDisguise(long returnValue, boolean decrypting, TokenProfile profile) {
    return decrypting && returnValue == CKR_GENERAL_ERROR && profile.reportsBadTagAsGeneralError();
  }

  private static ImmutableMap<Long, Factory> each(Factory type, long... returnValues) {
    ImmutableMap.Builder<Long, Factory> types = ImmutableMap.builder();
    for (long returnValue : returnValues) {
      types.put(returnValue, type);
    }
    return types.build();
  }
}
