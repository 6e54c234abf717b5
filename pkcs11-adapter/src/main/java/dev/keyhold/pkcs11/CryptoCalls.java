package dev.keyhold.pkcs11;

import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.Session;

/**
 * The calls of the adapter's hot path, made on a session and key handle of the wrapper: AES-GCM with a
 * 128-bit tag ({@code C_EncryptInit} + {@code C_Encrypt}, {@code C_DecryptInit} + {@code C_Decrypt})
 * and {@code C_GenerateRandom}. Everything else goes through the wrapper.
 *
 * <p>Two implementations: the wrapper's own ({@link WrapperCryptoCalls}, JNI) and, on JDK 22 and newer,
 * one through the Foreign Function & Memory API ({@code FfmCryptoCalls}, chosen by {@link FastPath}).
 * Both report a return value other than {@code CKR_OK} as the wrapper's {@link PKCS11Exception}, so
 * that {@link Token} maps the errors of either in one place. Both are thread-safe; a session is used by
 * one thread at a time, as the pool hands it out.
 */
interface CryptoCalls {
  /**
   * Encrypts {@code plaintext} (at least one byte) under {@code key} with {@code mechanism}.
   *
   * @param iv the 12-byte IV for {@code CK_GCM_PARAMS.pIv}, placed in front of the output; null for a
   *     mechanism that takes a NULL {@code pIv} and puts its own IV in front ({@code CKM_CLOUDHSM_AES_GCM})
   * @param aad the associated data, null for none
   * @return {@code IV || ciphertext || tag}
   */
  byte[] encryptGcm(Session session, long key, long mechanism, byte[] iv, byte[] aad, byte[] plaintext)
      throws PKCS11Exception;

  /**
   * Decrypts what {@link #encryptGcm} returned.
   *
   * @param ivInParameters whether the IV at the front of {@code ciphertext} goes in {@code CK_GCM_PARAMS.pIv};
   *     otherwise {@code pIv} is NULL and the token reads the IV from the front of its input
   * @param aad the associated data, null for none
   */
  byte[] decryptGcm(Session session, long key, long mechanism, boolean ivInParameters, byte[] aad, byte[] ciphertext)
      throws PKCS11Exception;

  /** {@code length} (at least one) bytes from the token's generator. */
  byte[] generateRandom(Session session, int length) throws PKCS11Exception;

  /** Which path the calls take, for logs and launchers, such as {@code FFM fast path (JDK 25)}. */
  String describe();
}
