package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_EXTRACTABLE;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_PRIVATE;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_SENSITIVE;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_TOKEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_VALUE;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_VALUE_LEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_GEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_WRAP;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_WRAP_PAD;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import iaik.pkcs.pkcs11.wrapper.CK_ATTRIBUTE;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;

/** A key from {@link AesKeyTemplate} is persistent and its material never leaves the token. */
class GeneratedKeyTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(1);

  @Test
  void hasTheDocumentedAttributes() {
    try (Token token = cluster.login(1)) {
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("attributes", new byte[] {1})).build());
      AttributeVector attributes = token.withKey(key, "C_GetAttributeValue", false,
          (session, handle) -> session.getAttrValues(handle, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE,
              CKA_VALUE_LEN));
      assertThat(attributes.token()).isTrue();
      assertThat(attributes.private_()).isTrue();
      assertThat(attributes.sensitive()).isTrue();
      assertThat(attributes.extractable()).isFalse();
      assertThat(attributes.valueLen()).isEqualTo(32);
    }
  }

  @Test
  void itsValueCannotBeRead() {
    try (Token token = cluster.login(1)) {
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("unreadable", new byte[] {2})).build());
      assertThatThrownBy(() -> RawValue.read(token, key))
          .isInstanceOf(TokenFailureException.class)
          .hasMessageContaining("CKR_ATTRIBUTE_SENSITIVE");
    }
  }

  @Test
  void noKeyCanWrapIt() {
    try (Token token = cluster.login(1)) {
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("unwrappable", new byte[] {3})).build());
      long wrappingKey = token.call("C_GenerateKey", false, (session, connection) -> session.generateKey(
          new Mechanism(CKM_AES_KEY_GEN),
          AttributeVector.newAESSecretKey().valueLen(32).token(true).wrap(true).unwrap(true)));
      for (long mechanism : new long[] {CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD}) {
        assertThatThrownBy(() -> token.withKey(key, "C_WrapKey", false,
            (session, handle) -> session.wrapKey(new Mechanism(mechanism), wrappingKey, handle)))
            .hasMessageContaining("CKR_KEY_UNEXTRACTABLE");
      }
      assertThatThrownBy(() -> token.withKey(key, "C_WrapKey", false,
          (session, handle) -> session.wrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), handle, handle)))
          .as("the key itself is no wrapping key either")
          .isInstanceOf(Pkcs11Exception.class);
    }
  }

  @Test
  void survivesAFinalizeAndANewInitialize() throws PKCS11Exception {
    byte[] plaintext = "kept across a restart".getBytes(StandardCharsets.UTF_8);
    AesKey key = AesKey.of("persistent", new byte[] {4});
    Pkcs11Module first = cluster.module();
    byte[] ciphertext;
    try (Token token = cluster.login(1)) {
      token.generateAesKey(AesKeyTemplate.builder(key).build());
      ciphertext = token.aesGcm(key).encrypt(plaintext, null);
    }
    first.close(); // the extension's share: C_Finalize

    try (Pkcs11Module restarted = Pkcs11Module.load(SoftHsmClusterExtension.modulePath());
        Token token = Token.login(restarted, cluster.tokenLabels().get(0), TokenProfile.SOFTHSM2,
            cluster.kmsuserPin(), SessionPoolConfig.defaults())) {
      assertThat(restarted).isNotSameAs(first);
      assertThat(token.findAesKey("persistent")).contains(key);
      assertThat(token.aesGcm(key).decrypt(ciphertext, null)).isEqualTo(plaintext);
    }
  }
}
