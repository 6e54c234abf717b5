package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The handle index on real SoftHSM2 tokens: keys present when a connection starts are found without
 * a search of their own, and the keys other logins (standing in for other nodes) create or destroy
 * behind the index are still found, or not found, as the token says. Searches are counted by the
 * token's own counters.
 */
class KeyIndexTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  private static final AtomicInteger NEXT = new AtomicInteger();

  @Test
  void keysMadeBeforeTheConnectionAreFoundFromOneEnumeration() {
    try (Token other = cluster.login(1)) {
      AesKey first = other.generateAesKey(template(fresh()));
      AesKey second = other.generateAesKey(template(fresh()));
      try (Token token = cluster.login(1)) {
        encrypt(token, first);
        encrypt(token, second);
        assertThat(token.keySearches).hasValue(0);
        assertThat(token.enumerations).as("once per connection").hasValue(1);
      }
    }
  }

  @Test
  void aKeyMadeElsewhereAfterTheEnumerationIsFoundBySearchAndRemembered() {
    try (Token token = cluster.login(1); Token other = cluster.login(1)) {
      encrypt(token, token.generateAesKey(template(fresh())));
      encrypt(token, other.generateAesKey(template(fresh()))); // fills the index
      AesKey late = other.generateAesKey(template(fresh()));

      encrypt(token, late);
      encrypt(token, late);
      assertThat(token.keySearches).as("one search, then the index").hasValue(1);
      assertThat(token.findAesKey(late.label())).contains(late);
      assertThat(token.keySearches).as("found from the index, checked by handle").hasValue(1);
      assertThat(token.enumerations).hasValue(1);
    }
  }

  @Test
  void aKeyDestroyedElsewhereIsNotFoundThroughTheIndex() {
    try (Token other = cluster.login(1)) {
      AesKey key = other.generateAesKey(template(fresh()));
      try (Token token = cluster.login(1)) {
        encrypt(token, key);
        other.destroyKey(key);

        assertThatThrownBy(() -> encrypt(token, key)).isInstanceOf(ObjectNotFoundException.class);
        assertThat(token.findAesKey(key.label())).isEmpty();
        assertThat(token.keySearches).as("the stale handle, then findAesKey's search of the absent label")
            .hasValue(2);
      }
    }
  }

  @Test
  void findAesKeySearchesForWhatTheIndexLacks() {
    try (Token token = cluster.login(1); Token other = cluster.login(1)) {
      encrypt(token, other.generateAesKey(template(fresh()))); // fills the index
      AesKey late = other.generateAesKey(template(fresh()));

      assertThat(token.findAesKey(late.label())).contains(late);
      assertThat(token.findAesKey("absent-" + NEXT.incrementAndGet())).isEmpty();
      assertThat(token.keySearches).hasValue(2);
    }
  }

  @Test
  void generateUnwrapAndDestroyKeepTheIndexCurrent() {
    try (Token source = cluster.login(1); Token token = cluster.login(2)) {
      AesKey generated = token.generateAesKey(template(fresh()));
      AesKey copied = fresh();
      AesKeyTemplate replicable = AesKeyTemplate.builder(copied).replicable().build();
      byte[] wrapped = source.wrapKey(TrustedWrappingKey.NAME, source.generateAesKey(replicable));
      token.unwrapAesKey(TrustedWrappingKey.NAME, wrapped, replicable);
      encrypt(token, generated);
      encrypt(token, copied);
      assertThat(token.keySearches).as("the wrapping key's miss filled the index; the others were put there")
          .hasValue(0);

      token.destroyKey(generated);
      assertThatThrownBy(() -> encrypt(token, generated)).isInstanceOf(ObjectNotFoundException.class)
          .satisfies(e -> assertThat(((ObjectNotFoundException) e).returnValue()).as("not a stale handle").isEmpty());
      assertThat(token.keySearches).as("the destroyed key is no longer indexed").hasValue(1);
    }
  }

  @Test
  void listingFillsTheIndex() {
    try (Token other = cluster.login(1)) {
      AesKey key = other.generateAesKey(template(fresh()));
      try (Token token = cluster.login(1)) {
        assertThat(token.listAesKeys()).contains(key);
        encrypt(token, key);
        assertThat(token.keySearches).hasValue(0);
        assertThat(token.enumerations).as("the listing was the enumeration").hasValue(1);
      }
    }
  }

  private static AesKey fresh() {
    int n = NEXT.incrementAndGet();
    return AesKey.of("index-" + n, new byte[] {(byte) n, 7});
  }

  private static AesKeyTemplate template(AesKey key) {
    return AesKeyTemplate.builder(key).build();
  }

  private static void encrypt(Token token, AesKey key) {
    token.aesGcm(key).encrypt(new byte[] {1}, null);
  }
}
