package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** AES-GCM on a token, on each call path: the wrapper, and the FFM fast path where the JDK has it. */
class AesGcmTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(1);

  private static final byte[] PLAINTEXT = "attack at dawn".getBytes(StandardCharsets.UTF_8);
  private static final byte[] AAD = "{\"purpose\":\"test\"}".getBytes(StandardCharsets.UTF_8);

  /** One session only, so every failure below is followed by reuse of the very same session. */
  private static Token token;
  private static AesKey key;
  private static AesKey otherKey;

  @BeforeAll
  static void generateKey() {
    token = cluster.login(1, SessionPoolConfig.of(1, Duration.ofSeconds(5)));
    key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("gcm", new byte[] {1})).build());
    otherKey = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("gcm-2", new byte[] {2})).build());
  }

  static Stream<CryptoCalls> callPaths() {
    return CallPaths.of(cluster.module());
  }

  @AfterAll
  static void close() {
    token.close();
  }

  @OnEachCallPath
  void roundTripsWithAad(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    byte[] ciphertext = aead.encrypt(PLAINTEXT, AAD);
    assertThat(ciphertext).hasSize(Aead.IV_LENGTH + PLAINTEXT.length + Aead.TAG_LENGTH);
    assertThat(aead.decrypt(ciphertext, AAD)).isEqualTo(PLAINTEXT);
  }

  @OnEachCallPath
  void roundTripsWithoutAad(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    assertThat(aead.decrypt(aead.encrypt(new byte[65536], null), new byte[0])).hasSize(65536);
    assertThat(aead.decrypt(aead.encrypt(new byte[1], new byte[0]), null)).hasSize(1);
  }

  @Test
  void refusesEmptyPlaintextBeforeTheToken() {
    Aead aead = token.aesGcm(key);
    assertThatThrownBy(() -> aead.encrypt(new byte[0], AAD)).isInstanceOf(IllegalArgumentException.class);
  }

  @OnEachCallPath
  void drawsAFreshIvEveryTime(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    Set<String> ivs = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      ivs.add(java.util.HexFormat.of().formatHex(aead.encrypt(PLAINTEXT, AAD), 0, Aead.IV_LENGTH));
    }
    assertThat(ivs).hasSize(200);
  }

  @OnEachCallPath
  void aFlippedCiphertextBitIsInvalidCiphertext(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    byte[] ciphertext = aead.encrypt(PLAINTEXT, AAD);
    ciphertext[Aead.IV_LENGTH] ^= 1;
    assertInvalid(aead, ciphertext, AAD);
  }

  @OnEachCallPath
  void aFlippedTagBitIsInvalidCiphertext(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    byte[] ciphertext = aead.encrypt(PLAINTEXT, AAD);
    ciphertext[ciphertext.length - 1] ^= (byte) 0x80;
    assertInvalid(aead, ciphertext, AAD);
  }

  @OnEachCallPath
  void aWrongAadIsInvalidCiphertext(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    byte[] ciphertext = aead.encrypt(PLAINTEXT, AAD);
    assertInvalid(aead, ciphertext, "{\"purpose\":\"other\"}".getBytes(StandardCharsets.UTF_8));
    assertInvalid(aead, ciphertext, null);
  }

  @OnEachCallPath
  void aWrongIvIsInvalidCiphertext(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    byte[] ciphertext = aead.encrypt(PLAINTEXT, AAD);
    ciphertext[0] ^= 1;
    assertInvalid(aead, ciphertext, AAD);
  }

  @OnEachCallPath
  void aTruncatedCiphertextIsInvalidCiphertext(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    assertInvalid(aead, new byte[Aead.IV_LENGTH + Aead.TAG_LENGTH - 1], AAD);
    byte[] ciphertext = aead.encrypt(PLAINTEXT, AAD);
    assertInvalid(aead, java.util.Arrays.copyOf(ciphertext, ciphertext.length - 1), AAD);
  }

  @OnEachCallPath
  void anotherKeyCannotDecrypt(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    Aead other = new TokenAesGcm(token, otherKey, calls);
    assertThatThrownBy(() -> other.decrypt(aead.encrypt(PLAINTEXT, AAD), AAD))
        .isInstanceOf(InvalidCiphertextException.class);
  }

  private static void assertInvalid(Aead aead, byte[] ciphertext, byte[] aad) {
    assertThatThrownBy(() -> aead.decrypt(ciphertext, aad)).isInstanceOf(InvalidCiphertextException.class);
    assertThat(aead.decrypt(aead.encrypt(PLAINTEXT, AAD), AAD))
        .as("the session that saw the failure still works")
        .isEqualTo(PLAINTEXT);
    assertThat(token.sessionsInUse()).isZero();
  }
}
