package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The FFM fast path against the wrapper: it is on wherever the JDK allows, and what either path
 * encrypts, the other decrypts; errors, stale handles and random bytes behave alike on both.
 */
class FastPathTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(1);

  private static final byte[] AAD = "{\"purpose\":\"fast path\"}".getBytes(StandardCharsets.UTF_8);

  private static Token token;
  private static AesKey key;

  @BeforeAll
  static void generateKey() {
    token = cluster.login(1, SessionPoolConfig.of(4, Duration.ofSeconds(5)));
    key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("fast", new byte[] {1})).build());
  }

  @AfterAll
  static void close() {
    token.close();
  }

  static Stream<CryptoCalls> callPaths() {
    return CallPaths.of(cluster.module());
  }

  /** Never skipped: a JDK 22+ build or run that lost the fast path fails here. */
  @Test
  void isOnFromJdk22UnlessTurnedOff() {
    boolean wanted = Runtime.version().feature() >= 22 && !"off".equals(System.getProperty(FastPath.PROPERTY));
    assertThat(cluster.module().callPath())
        .as("the call path on JDK %s", Runtime.version().feature())
        .isEqualTo(wanted ? "FFM fast path (JDK " + Runtime.version().feature() + ")" : "IAIK wrapper (JNI)");
    assertThat(token.aesGcm(key).toString()).contains(cluster.module().callPath());
  }

  @Test
  void eachPathDecryptsWhatTheOtherEncrypted() {
    Aead wrapper = new TokenAesGcm(token, key, WrapperCryptoCalls.INSTANCE);
    Aead module = token.aesGcm(key);
    for (int length : new int[] {1, 15, 16, 17, 4096, 65536}) {
      byte[] plaintext = new byte[length];
      Arrays.fill(plaintext, (byte) length);
      for (byte[] aad : Arrays.asList(null, AAD)) {
        assertThat(wrapper.decrypt(module.encrypt(plaintext, aad), aad)).isEqualTo(plaintext);
        assertThat(module.decrypt(wrapper.encrypt(plaintext, aad), aad)).isEqualTo(plaintext);
      }
    }
  }

  @OnEachCallPath
  void aTamperedCiphertextIsInvalidAndTheSessionStaysUsable(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    byte[] ciphertext = aead.encrypt(new byte[100], AAD);
    ciphertext[ciphertext.length - 1] ^= 1;
    assertThatThrownBy(() -> aead.decrypt(ciphertext, AAD)).isInstanceOf(InvalidCiphertextException.class);
    assertThat(aead.decrypt(aead.encrypt(new byte[100], AAD), AAD)).hasSize(100);
    assertThat(token.sessionsInUse()).isZero();
  }

  /** The buffer a thread keeps grows to a call's size, up to 1 MiB; a larger call gets one of its own. */
  @OnEachCallPath
  void payloadsAboveWhatAThreadKeepsRoundTrip(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    for (int length : new int[] {3 << 20, 100, (1 << 20) - 1, 2 << 20, 7}) {
      byte[] plaintext = new byte[length];
      plaintext[length - 1] = 42;
      assertThat(aead.decrypt(aead.encrypt(plaintext, AAD), AAD)).isEqualTo(plaintext);
    }
  }

  @OnEachCallPath
  void threadsDoNotShareTheirNativeMemory(CryptoCalls calls) throws Exception {
    Aead aead = new TokenAesGcm(token, key, calls);
    ExecutorService threads = Executors.newFixedThreadPool(4);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        byte fill = (byte) t;
        done.add(threads.submit(() -> {
          for (int i = 1; i <= 300; i++) {
            byte[] plaintext = new byte[i];
            Arrays.fill(plaintext, fill);
            byte[] aad = new byte[] {fill, (byte) i};
            assertThat(aead.decrypt(aead.encrypt(plaintext, aad), aad)).isEqualTo(plaintext);
          }
          return null;
        }));
      }
      for (Future<?> future : done) {
        future.get();
      }
    } finally {
      threads.shutdownNow();
    }
  }

  @OnEachCallPath
  void aDestroyedKeysStaleHandleIsDroppedAndLookedUpAgain(CryptoCalls calls) {
    AesKey replaced = AesKey.of("replaced-" + calls.getClass().getSimpleName(), new byte[] {2});
    try (Token other = cluster.login(1)) {
      Aead aead = new TokenAesGcm(token, token.generateAesKey(AesKeyTemplate.builder(replaced).build()), calls);
      byte[] before = aead.encrypt(new byte[] {1}, null);

      other.destroyKey(replaced); // behind this token's handle index
      assertThatThrownBy(() -> aead.encrypt(new byte[] {1}, null)).isInstanceOf(ObjectNotFoundException.class);
      other.generateAesKey(AesKeyTemplate.builder(replaced).build());

      byte[] after = aead.encrypt(new byte[] {2}, null);
      assertThat(other.aesGcm(replaced).decrypt(after, null)).containsExactly(2);
      assertThatThrownBy(() -> aead.decrypt(before, null)).isInstanceOf(InvalidCiphertextException.class);
    }
  }

  /** SoftHSM2 lacks CloudHSM's mechanism: its refusal maps alike on both paths, and leaves the pool sound. */
  @OnEachCallPath
  void cloudHsmsMechanismTakesANullIvAndItsRefusalMapsAsTheWrappers(CryptoCalls calls) {
    assertThatThrownBy(() -> token.withKey(key, "C_Encrypt", false, (session, handle) ->
            calls.encryptGcm(session, handle, TokenAesGcm.CKM_CLOUDHSM_AES_GCM, null, AAD, new byte[16])))
        .isInstanceOf(UnsupportedByTokenException.class)
        .hasMessageContaining("CKR_MECHANISM_INVALID");
    assertThatThrownBy(() -> token.withKey(key, "C_Decrypt", true, (session, handle) ->
            calls.decryptGcm(session, handle, TokenAesGcm.CKM_CLOUDHSM_AES_GCM, false, null, new byte[44])))
        .isInstanceOf(UnsupportedByTokenException.class);
    assertThat(new TokenAesGcm(token, key, calls).encrypt(new byte[1], null)).hasSize(29);
  }

  @OnEachCallPath
  void randomBytesComeFromTheToken(CryptoCalls calls) {
    for (int length : new int[] {1, 32, 1024, 100_000}) {
      byte[] first = token.call("C_GenerateRandom", false, (session, c) -> calls.generateRandom(session, length));
      byte[] second = token.call("C_GenerateRandom", false, (session, c) -> calls.generateRandom(session, length));
      assertThat(first).hasSize(length);
      if (length >= 32) {
        assertThat(first).isNotEqualTo(second).isNotEqualTo(new byte[length]);
      }
    }
    assertThat(token.generateRandom(24)).hasSize(24);
  }
}
