package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class TokenTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  @Test
  void generatesRandomBytesInTheToken() {
    try (Token token = cluster.login(1)) {
      byte[] first = token.generateRandom(32);
      assertThat(first).hasSize(32);
      assertThat(token.generateRandom(32)).isNotEqualTo(first);
      assertThat(token.generateRandom(1024)).hasSize(1024);
      assertThatThrownBy(() -> token.generateRandom(0)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void findsTokensByLabelOnly() {
    assertThat(cluster.module().tokenLabels()).containsAll(cluster.tokenLabels());
    assertThatThrownBy(() -> Token.login(cluster.module(), "no-such-token", TokenProfile.SOFTHSM2,
        cluster.kmsuserPin(), SessionPoolConfig.defaults()))
        .isInstanceOf(TokenNotFoundException.class)
        .hasMessageContaining("no-such-token");
  }

  @Test
  void aMissingLibraryIsAClearFailure() {
    assertThatThrownBy(() -> Pkcs11Module.load(Path.of("/nonexistent/libpkcs11.so")))
        .isInstanceOf(TokenFailureException.class)
        .hasMessageContaining("/nonexistent/libpkcs11.so");
  }

  @Test
  void describesTheModule() {
    assertThat(cluster.module().describe()).contains("SoftHSM").contains("2.40");
  }

  /**
   * AWS CloudHSM cannot run here; these check what can be checked against SoftHSM2: the profile never
   * tries C_SetPIN, and its vendor GCM mechanism is refused as unsupported rather than misused.
   */
  @Test
  void theCloudHsmProfileRefusesWhatCloudHsmLacks() {
    try (Token token = Token.login(cluster.module(), cluster.tokenLabels().get(1), TokenProfile.AWS_CLOUDHSM,
        cluster.kmsuserPin(), SessionPoolConfig.defaults())) {
      assertThatThrownBy(() -> token.changePin(cluster.kmsuserPin(), cluster.kmsuserPin()))
          .isInstanceOf(UnsupportedByTokenException.class)
          .hasMessageContaining("C_SetPIN");
      Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(AesKey.of("c", new byte[] {1})).build()));
      assertThatThrownBy(() -> aead.encrypt(new byte[] {1}, null))
          .isInstanceOf(UnsupportedByTokenException.class)
          .hasMessageContaining("CKR_MECHANISM_INVALID");
      assertThat(token.sessionsInUse()).isZero();
    }
  }
}
