package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class HandleCacheTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(1);

  @Test
  void aStaleHandleIsDroppedAndLookedUpAgain() {
    AesKey key = AesKey.of("replaced", new byte[] {1});
    try (Token cached = cluster.login(1); Token other = cluster.login(1)) {
      Aead aead = cached.aesGcm(cached.generateAesKey(AesKeyTemplate.builder(key).build()));
      byte[] before = aead.encrypt(new byte[] {1}, null);

      other.destroyKey(key); // behind the first token's cache
      other.generateAesKey(AesKeyTemplate.builder(key).build());

      byte[] after = aead.encrypt(new byte[] {2}, null);
      assertThat(other.aesGcm(key).decrypt(after, null)).containsExactly(2);
      assertThatThrownBy(() -> aead.decrypt(before, null))
          .as("the old key's ciphertext does not open under the new key")
          .isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void aDestroyedKeyIsNotFound() {
    AesKey key = AesKey.of("destroyed", new byte[] {2});
    try (Token token = cluster.login(1)) {
      Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(key).build()));
      token.destroyKey(key);
      assertThatThrownBy(() -> aead.encrypt(new byte[] {1}, null))
          .isInstanceOf(ObjectNotFoundException.class)
          .hasMessageContaining("destroyed");
      assertThat(token.findAesKey("destroyed")).isEmpty();
      assertThatThrownBy(() -> token.destroyKey(key)).isInstanceOf(ObjectNotFoundException.class);
    }
  }

  @Test
  void findsKeysByLabelAndTellsIdsApart() {
    try (Token token = cluster.login(1)) {
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("found", new byte[] {3, 4})).build());
      assertThat(token.findAesKey("found")).contains(key);
      assertThat(token.findAesKey("absent")).isEmpty();
      Aead wrongId = token.aesGcm(AesKey.of("found", new byte[] {9}));
      assertThatThrownBy(() -> wrongId.encrypt(new byte[] {1}, null)).isInstanceOf(ObjectNotFoundException.class);
    }
  }
}
