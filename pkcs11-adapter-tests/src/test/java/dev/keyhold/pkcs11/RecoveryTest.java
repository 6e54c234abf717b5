package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.xipki.pkcs11.wrapper.PKCS11Module;

/**
 * A token that stops answering is reached again without a restart. The fault is real: a second
 * handle on the same SoftHSM2 library calls {@code C_Finalize} behind the adapter's back, as a
 * crashed or restarted device would drop every session and login.
 */
class RecoveryTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  @Test
  void reinitialisesTheLibraryAndLogsInAgain() throws Exception {
    byte[] plaintext = "before the loss".getBytes(StandardCharsets.UTF_8);
    try (Token first = cluster.login(1); Token second = cluster.login(2)) {
      Aead aead = first.aesGcm(first.generateAesKey(AesKeyTemplate.builder(AesKey.of("k", new byte[] {1})).build()));
      Aead other = second.aesGcm(second.generateAesKey(AesKeyTemplate.builder(AesKey.of("k", new byte[] {1})).build()));
      byte[] ciphertext = aead.encrypt(plaintext, null);
      byte[] otherCiphertext = other.encrypt(plaintext, null);

      PKCS11Module.getInstance(SoftHsmClusterExtension.modulePath().toString()).finalize(null);

      assertThatThrownBy(() -> aead.encrypt(plaintext, null))
          .isInstanceOf(DeviceLostException.class)
          .hasMessageContaining("CKR_CRYPTOKI_NOT_INITIALIZED");
      assertThat(first.sessionsInUse()).isZero();

      assertThat(aead.decrypt(ciphertext, null)).as("the next call recovers").isEqualTo(plaintext);
      assertThat(other.decrypt(otherCiphertext, null))
          .as("the other token of the library reconnects without an error")
          .isEqualTo(plaintext);
      assertThat(aead.decrypt(aead.encrypt(plaintext, null), null)).isEqualTo(plaintext);
    }
  }
}
