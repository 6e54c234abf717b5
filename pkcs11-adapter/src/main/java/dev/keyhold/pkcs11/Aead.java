package dev.keyhold.pkcs11;

/**
 * Authenticated encryption with associated data, done inside a token with one key.
 *
 * <p>The output of {@link #encrypt} is self-contained: {@code IV (12 bytes) || ciphertext || tag (16
 * bytes)}. Callers never choose the IV, so they cannot reuse one by mistake.
 */
public interface Aead {
  /** Length of the IV at the front of every ciphertext. */
  int IV_LENGTH = 12;
  /** Length of the GCM tag at the end of every ciphertext. */
  int TAG_LENGTH = 16;

  /**
   * Encrypts {@code plaintext} (at least one byte), binding {@code associatedData} (may be empty or
   * null).
   *
   * @return {@code IV || ciphertext || tag}
   */
  byte[] encrypt(byte[] plaintext, byte[] associatedData);

  /**
   * Decrypts what {@link #encrypt} returned, given the same associated data.
   *
   * @throws InvalidCiphertextException if the ciphertext, IV, tag or associated data was changed
   */
  byte[] decrypt(byte[] ciphertext, byte[] associatedData);
}
