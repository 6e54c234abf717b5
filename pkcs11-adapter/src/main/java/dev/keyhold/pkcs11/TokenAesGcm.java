package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_GCM;

import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * AES-GCM inside a token, 128-bit tag, 12-byte IV at the front of the output.
 *
 * <p>Where the adapter picks the IV ({@link TokenProfile.IvSource#ADAPTER}) it draws 96 random bits
 * from a per-thread DRBG seeded once, so the hot path does no I/O; a thread draws the bits of
 * {@value #IVS_PER_DRAW} IVs at a time, since each draw from the DRBG costs far more than its bytes. Random IVs bound a key to 2^32 encryptions
 * (NIST SP 800-38D, 8.3); callers that may exceed that must rotate keys. Where the token picks it
 * ({@link TokenProfile.IvSource#TOKEN_PREFIXED}) the vendor mechanism returns {@code IV || ct || tag}.
 */
final class TokenAesGcm implements Aead {
  /** AWS CloudHSM's {@code CKM_CLOUDHSM_AES_GCM}: {@code CKM_VENDOR_DEFINED | CKM_AES_GCM}. */
  static final long CKM_CLOUDHSM_AES_GCM = 0x80001087L;
  private static final int IVS_PER_DRAW = 32;
  /** One DRBG per thread: a shared one would serialise every encryption on its lock. */
  private static final ThreadLocal<IvSource> IVS = ThreadLocal.withInitial(IvSource::new);

  private final Token token;
  private final AesKey key;
  private final CryptoCalls calls;
  private final boolean adapterPicksIv;
  private final long mechanism;

  /** AES-GCM with {@code key} on {@code token}, through {@code calls}: the wrapper's, or the fast path's. */
  TokenAesGcm(Token token, AesKey key, CryptoCalls calls) {
    this.token = token;
    this.key = key;
    this.calls = calls;
    this.adapterPicksIv = token.profile().ivSource() == TokenProfile.IvSource.ADAPTER;
    this.mechanism = adapterPicksIv ? CKM_AES_GCM : CKM_CLOUDHSM_AES_GCM;
  }

  @Override
  public byte[] encrypt(byte[] plaintext, byte[] associatedData) {
    checkNotNull(plaintext, "plaintext");
    // PKCS#11 passes empty input as a null pointer, which SoftHSM2 refuses (CKR_ARGUMENTS_BAD).
    checkArgument(plaintext.length > 0, "plaintext must not be empty");
    byte[] aad = nullIfEmpty(associatedData);
    byte[] iv = adapterPicksIv ? IVS.get().next() : null;
    return token.withKey(key, "C_Encrypt", false,
        (session, handle) -> calls.encryptGcm(session, handle, mechanism, iv, aad, plaintext));
  }

  @Override
  public byte[] decrypt(byte[] ciphertext, byte[] associatedData) {
    checkNotNull(ciphertext, "ciphertext");
    if (ciphertext.length < IV_LENGTH + TAG_LENGTH) {
      throw new InvalidCiphertextException("ciphertext is shorter than its IV and tag", null, null);
    }
    byte[] aad = nullIfEmpty(associatedData);
    return token.withKey(key, "C_Decrypt", true,
        (session, handle) -> calls.decryptGcm(session, handle, mechanism, adapterPicksIv, aad, ciphertext));
  }

  private static byte[] nullIfEmpty(byte[] associatedData) {
    return associatedData == null || associatedData.length == 0 ? null : associatedData;
  }

  /** One thread's DRBG and the IVs it drew ahead. */
  private static final class IvSource {
    private final SecureRandom drbg;
    private final byte[] drawn = new byte[IVS_PER_DRAW * IV_LENGTH];
    private int used = drawn.length;

    IvSource() {
      try {
        drbg = SecureRandom.getInstance("DRBG");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("this JDK has no DRBG", e);
      }
    }

    byte[] next() {
      if (used == drawn.length) {
        drbg.nextBytes(drawn);
        used = 0;
      }
      byte[] iv = Arrays.copyOfRange(drawn, used, used + IV_LENGTH);
      used += IV_LENGTH;
      return iv;
    }
  }

  @Override
  public String toString() {
    return "TokenAesGcm[" + key + " on " + token + ", " + calls.describe() + "]";
  }
}
