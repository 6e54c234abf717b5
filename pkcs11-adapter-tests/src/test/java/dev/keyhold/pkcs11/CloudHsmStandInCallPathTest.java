package dev.keyhold.pkcs11;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.shims.CloudHsmStandIn;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AWS_CLOUDHSM profile's AES-GCM on each of the adapter's call paths against the CloudHSM stand-in
 * ({@code cloudhsm-standin.c}, test-shims), which refuses a {@code CKM_CLOUDHSM_AES_GCM} call whose
 * {@code pIv} is not NULL, as CloudHSM does. So this proves, against the stand-in, what
 * docs/pkcs11-adapter.md lists as unproven for CloudHSM: that the wrapper (JNI) path passes the empty
 * IV array as {@code pIv = NULL}, and that the output is {@code IV (12) || ciphertext || tag (16)}.
 * The stand-in's other behaviours are test-shims' {@code CloudHsmStandInTest}.
 */
class CloudHsmStandInCallPathTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  private static final String USER = "kmsuser";
  private static final char[] PASSWORD = "Call-Path-Password".toCharArray();
  private static final byte[] PLAINTEXT = "through each call path".getBytes(UTF_8);
  private static final byte[] AAD = "context".getBytes(UTF_8);

  @TempDir static Path work;
  private static Pkcs11Module module;
  private static Token token;
  private static AesKey key;

  @BeforeAll
  static void standIn() {
    CloudHsmStandIn.Builder builder = CloudHsmStandIn.builder(work, SoftHsmClusterExtension.modulePath())
        .slotLabel("standin-call-paths")
        .hsms(cluster.tokenLabels())
        .user(USER, PASSWORD);
    cluster.kmsuserPin().withChars(chars -> builder.hsmPin(chars));
    module = Pkcs11Module.load(builder.build().module());
    token = Token.login(module, "standin-call-paths", TokenProfile.AWS_CLOUDHSM,
        TokenProfile.AWS_CLOUDHSM.loginPin(USER, Pin.of(PASSWORD)), SessionPoolConfig.defaults());
    key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("call-path-key", new byte[] {7})).build());
  }

  @AfterAll
  static void close() {
    token.close();
    module.close();
  }

  static Stream<CryptoCalls> callPaths() {
    return CallPaths.of(module);
  }

  @Test
  void bothCallPathsAreTried() {
    assertThat(callPaths()).as("the wrapper, and the fast path on JDK 22+").contains(WrapperCryptoCalls.INSTANCE);
  }

  @OnEachCallPath
  void theVendorMechanismGetsANullIvAndPrefixesTheModulesIv(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);

    byte[] first = aead.encrypt(PLAINTEXT, AAD);
    byte[] second = aead.encrypt(PLAINTEXT, AAD);

    assertThat(first).hasSize(12 + PLAINTEXT.length + 16);
    assertThat(Arrays.copyOf(first, 12)).isNotEqualTo(Arrays.copyOf(second, 12));
    assertThat(aead.decrypt(first, AAD)).isEqualTo(PLAINTEXT);
    // The layout is the one a backing token's own GCM (adapter IV in front) reads.
    try (Token backing = cluster.login(2)) {
      AesKey there = backing.findAesKey(key.label()).orElseThrow();
      assertThat(backing.aesGcm(there).decrypt(second, AAD)).isEqualTo(PLAINTEXT);
    }
  }

  @OnEachCallPath
  void aBadTagIsInvalidCiphertext(CryptoCalls calls) {
    Aead aead = new TokenAesGcm(token, key, calls);
    byte[] ciphertext = aead.encrypt(PLAINTEXT, AAD);
    ciphertext[ciphertext.length - 1] ^= 1;

    assertThatThrownBy(() -> aead.decrypt(ciphertext, AAD))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("CKR_ENCRYPTED_DATA_INVALID");
  }
}
