package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_GEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKU_SO;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;

/**
 * Wrapping for replication: a replicable key leaves the token only wrapped, and only under a key the SO
 * marked trusted (SoftHSM2 enforces CKA_WRAP_WITH_TRUSTED); a plain key never leaves it.
 */
class WrapTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(1);

  private static final AesKey TRUSTED = AesKey.of("trusted-wrapping", new byte[] {9});

  @Test
  void aReplicableKeyTravelsWrappedUnderATrustedKeyOnly() throws Exception {
    createTrustedWrappingKeyAsSecurityOfficer();
    try (Token token = cluster.login(1)) {
      AesKey original = token.generateAesKey(
          AesKeyTemplate.builder(AesKey.of("replicable", new byte[] {1})).replicable().build());
      byte[] wrapped = token.wrapKey(TRUSTED, original);
      assertThat(wrapped).hasSize(40); // RFC 5649 around 32 bytes

      AesKey copy = token.unwrapAesKey(TRUSTED, wrapped,
          AesKeyTemplate.builder(AesKey.of("replica", new byte[] {2})).replicable().build());
      byte[] ciphertext = token.aesGcm(original).encrypt(new byte[] {4, 2}, null);
      assertThat(token.aesGcm(copy).decrypt(ciphertext, null)).as("the same key").containsExactly(4, 2);

      AesKey untrusted = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("plain", new byte[] {3})).build());
      assertThatThrownBy(() -> token.wrapKey(TRUSTED, untrusted)).hasMessageContaining("CKR_KEY_UNEXTRACTABLE");
      AesKey userWrappingKey = AesKey.of("user-wrapping", new byte[] {4});
      token.call("C_GenerateKey", false, (session, connection) -> session.generateKey(new Mechanism(CKM_AES_KEY_GEN),
          AttributeVector.newAESSecretKey().valueLen(32).token(true).wrap(true).unwrap(true)
              .label(userWrappingKey.label()).id(userWrappingKey.id())));
      assertThatThrownBy(() -> token.wrapKey(userWrappingKey, original))
          .as("the user cannot wrap it under a key of their own")
          .hasMessageContaining("CKR_KEY_NOT_WRAPPABLE");
    }
  }

  /** What the trust ceremony does on each HSM: the SO creates a public, trusted wrap/unwrap key. */
  private static void createTrustedWrappingKeyAsSecurityOfficer() throws Exception {
    PKCS11Module raw = PKCS11Module.getInstance(SoftHsmClusterExtension.modulePath().toString());
    for (Slot slot : raw.getSlotList(true)) {
      if (slot.getToken().getTokenInfo().getLabel().trim().equals(cluster.tokenLabels().get(0))) {
        Session session = slot.getToken().openSession(true);
        try {
          session.login(CKU_SO, cluster.soPin().withChars(char[]::clone));
          session.generateKey(new Mechanism(CKM_AES_KEY_GEN), AttributeVector.newAESSecretKey().valueLen(32)
              .token(true).private_(false).trusted(true).wrap(true).unwrap(true).sensitive(true).extractable(false)
              .label(TRUSTED.label()).id(TRUSTED.id()));
          session.logout();
        } finally {
          session.closeSession();
        }
      }
    }
  }
}
