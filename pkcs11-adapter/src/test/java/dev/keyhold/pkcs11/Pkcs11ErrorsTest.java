package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.xipki.pkcs11.wrapper.PKCS11Constants;

class Pkcs11ErrorsTest {
  private static final Map<Long, Class<? extends Pkcs11Exception>> EXPECTED = Map.ofEntries(
      Map.entry(CKR_PIN_INCORRECT, BadCredentialsException.class),
      Map.entry(CKR_PIN_INVALID, BadCredentialsException.class),
      Map.entry(CKR_PIN_LEN_RANGE, BadCredentialsException.class),
      Map.entry(CKR_USER_PIN_NOT_INITIALIZED, BadCredentialsException.class),
      Map.entry(CKR_PIN_LOCKED, PinLockedException.class),
      Map.entry(CKR_PIN_EXPIRED, PinLockedException.class),
      Map.entry(CKR_OBJECT_HANDLE_INVALID, ObjectNotFoundException.class),
      Map.entry(CKR_KEY_HANDLE_INVALID, ObjectNotFoundException.class),
      Map.entry(CKR_ENCRYPTED_DATA_INVALID, InvalidCiphertextException.class),
      Map.entry(CKR_ENCRYPTED_DATA_LEN_RANGE, InvalidCiphertextException.class),
      Map.entry(CKR_AEAD_DECRYPT_FAILED, InvalidCiphertextException.class),
      Map.entry(CKR_DEVICE_MEMORY, DeviceLostException.class),
      Map.entry(CKR_TOKEN_NOT_RECOGNIZED, DeviceLostException.class),
      Map.entry(CKR_SLOT_ID_INVALID, DeviceLostException.class),
      Map.entry(CKR_SESSION_CLOSED, DeviceLostException.class),
      Map.entry(CKR_MECHANISM_PARAM_INVALID, UnsupportedByTokenException.class),
      Map.entry(CKR_SESSION_READ_ONLY, UnsupportedByTokenException.class),
      Map.entry(CKR_SESSION_PARALLEL_NOT_SUPPORTED, UnsupportedByTokenException.class),
      Map.entry(CKR_DEVICE_ERROR, DeviceLostException.class),
      Map.entry(CKR_DEVICE_REMOVED, DeviceLostException.class),
      Map.entry(CKR_TOKEN_NOT_PRESENT, DeviceLostException.class),
      Map.entry(CKR_SESSION_HANDLE_INVALID, DeviceLostException.class),
      Map.entry(CKR_CRYPTOKI_NOT_INITIALIZED, DeviceLostException.class),
      Map.entry(CKR_USER_NOT_LOGGED_IN, DeviceLostException.class),
      Map.entry(CKR_SESSION_COUNT, SessionsExhaustedException.class),
      Map.entry(CKR_FUNCTION_NOT_SUPPORTED, UnsupportedByTokenException.class),
      Map.entry(CKR_MECHANISM_INVALID, UnsupportedByTokenException.class),
      Map.entry(CKR_ATTRIBUTE_TYPE_INVALID, UnsupportedByTokenException.class),
      Map.entry(CKR_GENERAL_ERROR, TokenFailureException.class),
      Map.entry(CKR_ATTRIBUTE_SENSITIVE, TokenFailureException.class),
      Map.entry(CKR_KEY_UNEXTRACTABLE, TokenFailureException.class));

  @Test
  void everyReturnValueMapsToOneTypeThatNamesIt() throws IllegalAccessException {
    List<Long> codes = allReturnValues();
    assertThat(codes).hasSizeGreaterThan(90);
    for (long code : codes) {
      Pkcs11Exception e = translate(code, false, TokenProfile.SOFTHSM2);
      String name = Pkcs11Errors.nameOf(code);
      assertThat(e.returnValue()).contains(name);
      assertThat(e).hasMessage("C_Encrypt on token 'hsm-label' failed: " + name);
      if (code != CKR_OK) {
        assertThat(e).isInstanceOf(EXPECTED.getOrDefault(code, TokenFailureException.class));
      }
    }
  }

  @Test
  void unknownVendorValuesStillHaveAName() {
    Pkcs11Exception e = translate(0x80000123L, false, TokenProfile.AWS_CLOUDHSM);
    assertThat(e).isInstanceOf(TokenFailureException.class).hasMessageContaining("CKR_0X80000123");
  }

  @Test
  void softHsmReportsABadTagAsGeneralErrorOnlyWhenDecrypting() {
    assertThat(translate(CKR_GENERAL_ERROR, true, TokenProfile.SOFTHSM2)).isInstanceOf(InvalidCiphertextException.class);
    assertThat(translate(CKR_GENERAL_ERROR, false, TokenProfile.SOFTHSM2)).isInstanceOf(TokenFailureException.class);
    assertThat(translate(CKR_GENERAL_ERROR, true, TokenProfile.AWS_CLOUDHSM)).isInstanceOf(TokenFailureException.class);
    assertThat(Pkcs11Errors.breaksSession(CKR_GENERAL_ERROR, true, TokenProfile.SOFTHSM2)).isFalse();
    assertThat(Pkcs11Errors.breaksSession(CKR_GENERAL_ERROR, false, TokenProfile.SOFTHSM2)).isTrue();
  }

  @Test
  void onlyErrorsThatEndTheOperationKeepTheSession() {
    for (long kept : new long[] {CKR_PIN_INCORRECT, CKR_KEY_HANDLE_INVALID, CKR_ENCRYPTED_DATA_INVALID}) {
      assertThat(Pkcs11Errors.breaksSession(kept, true, TokenProfile.SOFTHSM2)).as(Pkcs11Errors.nameOf(kept)).isFalse();
    }
    for (long broken : new long[] {CKR_ARGUMENTS_BAD, CKR_OPERATION_ACTIVE, CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID}) {
      assertThat(Pkcs11Errors.breaksSession(broken, false, TokenProfile.SOFTHSM2)).as(Pkcs11Errors.nameOf(broken))
          .isTrue();
    }
  }

  private static Pkcs11Exception translate(long code, boolean decrypting, TokenProfile profile) {
    return Pkcs11Errors.translate(code, "C_Encrypt", "hsm-label", decrypting, profile, null);
  }

  private static List<Long> allReturnValues() throws IllegalAccessException {
    List<Long> codes = new ArrayList<>();
    for (Field field : PKCS11Constants.class.getFields()) {
      if (field.getName().startsWith("CKR_") && field.getType() == long.class
          && Modifier.isStatic(field.getModifiers())) {
        codes.add(field.getLong(null));
      }
    }
    return codes;
  }
}
