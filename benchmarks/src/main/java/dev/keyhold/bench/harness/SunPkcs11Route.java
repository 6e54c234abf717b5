package dev.keyhold.bench.harness;

import com.google.common.io.BaseEncoding;
import dev.keyhold.pkcs11.AesKey;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.AuthProvider;
import java.security.GeneralSecurityException;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.login.LoginException;

/**
 * The token under test through the JDK's own SunPKCS11 provider, as a Java user without Keyhold would
 * drive it: a provider configured on the same library and slot, logged in with the same PIN, an
 * AES-256 key generated in the token, and {@code AES/GCM/NoPadding} Ciphers, one per thread because a
 * Cipher is not thread-safe. The key is a persistent token key, sensitive and not extractable, as the
 * adapter's is: SoftHSM2 serves session keys faster than token keys, so anything else would compare
 * unlike with unlike. SunPKCS11 cannot destroy such a key; {@link Routes} does, by its label.
 *
 * <p>SunPKCS11 refuses to encrypt twice with one key and IV, and so must any caller: each thread
 * counts its IVs up from a prefix of its own, as the baseline kit's C route does.
 */
final class SunPkcs11Route {
  private static final int TAG_BITS = 128;
  private static final int IV_BYTES = 12;
  private static final BaseEncoding HEX = BaseEncoding.base16().lowerCase();

  private final SecretKey key;
  private final Provider provider;
  private final AtomicInteger threads = new AtomicInteger();
  private final int ivPrefixBase = new SecureRandom().nextInt();

  private SunPkcs11Route(Provider provider, SecretKey key) {
    this.provider = provider;
    this.key = key;
  }

  /**
   * Configures a SunPKCS11 provider on {@code tested}'s library and {@code slotId}, and logs in.
   * Call it after the adapter has initialised the library: SunPKCS11 accepts a library that another
   * part of the process initialised, the wrapper does not.
   */
  static SunPkcs11Route open(TokenUnderTest tested, long slotId, AesKey key) {
    String config = String.join("\n",
        "name = KeyholdBench",
        "library = " + tested.library(),
        "slot = " + slotId,
        "attributes(generate, CKO_SECRET_KEY, CKK_AES) = {",
        "  CKA_TOKEN = true",
        "  CKA_SENSITIVE = true",
        "  CKA_EXTRACTABLE = false",
        "  CKA_LABEL = 0h" + HEX.encode(key.label().getBytes(StandardCharsets.UTF_8)),
        "  CKA_ID = 0h" + HEX.encode(key.id()),
        "}");
    Provider provider = Security.getProvider("SunPKCS11").configure("--" + config);
    try {
      ((AuthProvider) provider).login(null, callbacks -> {
        for (var callback : callbacks) {
          if (callback instanceof PasswordCallback password) {
            tested.loginPin().withChars(chars -> {
              password.setPassword(chars); // PasswordCallback keeps its own copy
              return null;
            });
          }
        }
      });
      KeyGenerator generator = KeyGenerator.getInstance("AES", provider);
      generator.init(256);
      return new SunPkcs11Route(provider, generator.generateKey());
    } catch (LoginException e) {
      throw new IllegalStateException("SunPKCS11 cannot log in to " + tested + ": " + e.getMessage(), e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("SunPKCS11 cannot generate an AES-256 key in " + tested + ": " + e, e);
    }
  }

  /** Encrypts {@code plaintext} under a fresh IV per call. */
  Runnable encryptCall(byte[] plaintext) {
    ThreadLocal<ThreadCipher> ciphers = ThreadLocal.withInitial(this::newThreadCipher);
    return () -> ciphers.get().encrypt(plaintext);
  }

  /** Decrypts the ciphertext of {@code plaintext}, made once, checking its tag on every call. */
  Runnable decryptCall(byte[] plaintext) {
    ThreadCipher once = newThreadCipher();
    byte[] iv = once.nextIv();
    byte[] ciphertext = once.run(Cipher.ENCRYPT_MODE, iv, plaintext);
    ThreadLocal<ThreadCipher> ciphers = ThreadLocal.withInitial(this::newThreadCipher);
    return () -> ciphers.get().run(Cipher.DECRYPT_MODE, iv, ciphertext);
  }

  private ThreadCipher newThreadCipher() {
    try {
      return new ThreadCipher(Cipher.getInstance("AES/GCM/NoPadding", provider),
          ivPrefixBase + threads.incrementAndGet());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("SunPKCS11 offers no AES/GCM/NoPadding: " + e, e);
    }
  }

  /** One thread's Cipher and IV counter: IV = its 4-byte prefix, then a 64-bit count. */
  private final class ThreadCipher {
    private final Cipher cipher;
    private final ByteBuffer iv = ByteBuffer.allocate(IV_BYTES);
    private long count;

    ThreadCipher(Cipher cipher, int ivPrefix) {
      this.cipher = cipher;
      iv.putInt(0, ivPrefix);
    }

    void encrypt(byte[] plaintext) {
      run(Cipher.ENCRYPT_MODE, nextIv(), plaintext);
    }

    byte[] nextIv() {
      iv.putLong(4, ++count);
      return iv.array().clone();
    }

    byte[] run(int mode, byte[] ivBytes, byte[] input) {
      try {
        cipher.init(mode, key, new GCMParameterSpec(TAG_BITS, ivBytes));
        return cipher.doFinal(input);
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("SunPKCS11 AES-GCM failed: " + e, e);
      }
    }
  }
}
