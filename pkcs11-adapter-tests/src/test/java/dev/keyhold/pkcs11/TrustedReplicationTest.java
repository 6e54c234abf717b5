package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_DECRYPT;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_SENSITIVE;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_WRAP_WITH_TRUSTED;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_GEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_WRAP_PAD;

import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.softhsm.ClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.Mechanism;

/**
 * The trust ceremony and what it guarantees on real SoftHSM2 tokens: a replicable key travels from
 * HSM to HSM wrapped under the cluster's trusted key, and whoever holds the kmsuser password still
 * cannot get key material out in clear.
 */
class TrustedReplicationTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  private static final AesKey TRUSTED = TrustedWrappingKey.NAME;

  private Token first;
  private Token second;

  @BeforeEach
  void logIn() {
    first = cluster.login(1);
    second = cluster.login(2);
  }

  @AfterEach
  void logOut() {
    first.close();
    second.close();
  }

  @Test
  void theCeremonyGaveEveryHsmTheSameTrustedKey() {
    AesKey key = replicable("shared");
    byte[] wrapped = first.wrapKey(TRUSTED, first.generateAesKey(template(key)));
    assertThat(wrapped).hasSize(40); // RFC 5649 around 32 bytes

    second.unwrapAesKey(TRUSTED, wrapped, template(key));

    byte[] onFirst = first.aesGcm(key).encrypt(new byte[] {4, 2}, new byte[] {7});
    assertThat(second.aesGcm(key).decrypt(onFirst, new byte[] {7})).as("encrypted on 1, decrypted on 2")
        .containsExactly(4, 2);
    byte[] onSecond = second.aesGcm(key).encrypt(new byte[] {5}, null);
    assertThat(first.aesGcm(key).decrypt(onSecond, null)).containsExactly(5);
  }

  @Test
  void noReplicaValueCanBeRead() {
    AesKey key = replicateToSecond("unreadable");
    assertThatThrownBy(() -> RawValue.read(second, key)).hasMessageContaining("CKR_ATTRIBUTE_SENSITIVE");
    assertThatThrownBy(() -> RawValue.read(second, TRUSTED)).hasMessageContaining("CKR_ATTRIBUTE_SENSITIVE");
  }

  @Test
  void aReplicaCannotBeWrappedUnderAnUntrustedKey() {
    AesKey key = replicateToSecond("not-wrappable");
    AesKey own = AesKey.of("users-own-wrapping-key", new byte[] {4});
    second.call("C_GenerateKey", false, (session, connection) -> session.generateKey(new Mechanism(CKM_AES_KEY_GEN),
        AttributeVector.newAESSecretKey().valueLen(32).token(true).wrap(true).unwrap(true)
            .label(own.label()).id(own.id())));
    assertThatThrownBy(() -> second.wrapKey(own, key)).hasMessageContaining("CKR_KEY_NOT_WRAPPABLE");
    AesKey plain = first.generateAesKey(AesKeyTemplate.builder(AesKey.of("plain", new byte[] {3})).build());
    assertThatThrownBy(() -> first.wrapKey(TRUSTED, plain)).as("a key that is not replicable never leaves")
        .hasMessageContaining("CKR_KEY_UNEXTRACTABLE");
  }

  @Test
  void kmsuserCannotCreateATrustedKey() {
    assertThatThrownBy(() -> first.call("C_GenerateKey", false, (session, connection) -> session.generateKey(
        new Mechanism(CKM_AES_KEY_GEN), AttributeVector.newAESSecretKey().valueLen(32).token(true).private_(false)
            .trusted(true).wrap(true).unwrap(true).label("forged-trusted-key"))))
        .hasMessageContaining("CKR_ATTRIBUTE_READ_ONLY");
  }

  @Test
  void aReplicaBlobCannotBeUnwrappedAsNonSensitive() {
    AesKey key = replicable("stays-sensitive");
    byte[] wrapped = first.wrapKey(TRUSTED, first.generateAesKey(template(key)));
    assertThatThrownBy(() -> second.withKey(TRUSTED, "C_UnwrapKey", false, (session, handle) -> session.unwrapKey(
        new Mechanism(CKM_AES_KEY_WRAP_PAD), handle, wrapped,
        AttributeVector.newAESSecretKey().token(false).sensitive(false).extractable(true).encrypt(true))))
        .hasMessageContaining("CKR_TEMPLATE_INCONSISTENT");
  }

  @Test
  void kmsuserCannotLoosenTheTrustedKeyOrAReplica() {
    for (Token token : new Token[] {first, second}) { // generated in the first, received by the second
      assertThatThrownBy(() -> token.withKey(TRUSTED, "C_SetAttributeValue", false, (session, handle) -> {
        session.setAttributeValues(handle, new AttributeVector().attr(CKA_DECRYPT, true));
        return null;
      })).as("a decrypting trusted key would open every blob").hasMessageContaining("CKR_ACTION_PROHIBITED");
    }
    AesKey key = replicateToSecond("stays-protected");
    for (long attribute : new long[] {CKA_SENSITIVE, CKA_WRAP_WITH_TRUSTED}) {
      assertThatThrownBy(() -> second.withKey(key, "C_SetAttributeValue", false, (session, handle) -> {
        session.setAttributeValues(handle, new AttributeVector().attr(attribute, false));
        return null;
      })).as("turning off attribute %s of a replica", attribute).hasMessageContaining("CKR_ATTRIBUTE_READ_ONLY");
    }
  }

  @Test
  void theSameCeremonyJoinsANewHsm() {
    AesKey before = replicable("before-join");
    byte[] wrapped = first.wrapKey(TRUSTED, first.generateAesKey(template(before)));
    first.close();
    second.close(); // the ceremony logs in as SO, which a user login in this process would block

    new ClusterProvisioner(cluster.module()).provision(cluster.clusterId(), 3, cluster.soPin(), cluster.kmsuserPin());

    logIn();
    try (Token third = cluster.login(3)) {
      third.unwrapAesKey(TRUSTED, wrapped, template(before));
      byte[] ciphertext = first.aesGcm(before).encrypt(new byte[] {9}, null);
      assertThat(third.aesGcm(before).decrypt(ciphertext, null)).containsExactly(9);
    }
  }

  private AesKey replicateToSecond(String label) {
    AesKey key = replicable(label);
    second.unwrapAesKey(TRUSTED, first.wrapKey(TRUSTED, first.generateAesKey(template(key))), template(key));
    return key;
  }

  private static AesKey replicable(String label) {
    return AesKey.of(label, label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
  }

  private static AesKeyTemplate template(AesKey key) {
    return AesKeyTemplate.builder(key).replicable().build();
  }
}
