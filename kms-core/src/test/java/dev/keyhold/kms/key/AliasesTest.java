package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and aliases as KeyIds. */
class AliasesTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final String ALIAS_ARN_PREFIX = "arn:aws:kms:us-east-1:111122223333:";

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private KmsKeys keys;
  private KeyAliases aliases;
  private KmsCrypto crypto;
  private KeyMetadata key;
  private KeyMetadata other;

  @BeforeEach
  void createKeys() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    fixture.open();
    keys = fixture.kmsKeys(Clock.systemUTC());
    aliases = keys.aliases();
    crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    String store = fixture.connectedStore("aliases", cluster);
    key = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "one"));
    other = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "two"));
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void anAliasNamesItsKeyEverywhereAKeyIdGoes() {
    aliases.createAlias("alias/orders", key.arn());

    assertThat(keys.describeKey("alias/orders").keyId()).isEqualTo(key.keyId());
    assertThat(keys.describeKey(ALIAS_ARN_PREFIX + "alias/orders").keyId()).isEqualTo(key.keyId());
    assertThat(crypto.encrypt(new EncryptRequest("alias/orders", new byte[] {1}, null, null)).keyId())
        .isEqualTo(key.arn());
    assertThat(error(() -> aliases.createAlias("alias/orders", other.keyId())))
        .hasMessage("An alias with the name " + ALIAS_ARN_PREFIX + "alias/orders already exists")
        .extracting(e -> e.type()).isEqualTo(KmsErrorType.AlreadyExistsException);

    aliases.updateAlias("alias/orders", other.keyId());
    assertThat(keys.describeKey("alias/orders").keyId()).isEqualTo(other.keyId());
    aliases.deleteAlias("alias/orders");
    assertThat(error(() -> keys.describeKey("alias/orders")))
        .hasMessage("Alias " + ALIAS_ARN_PREFIX + "alias/orders is not found.");
    assertError(() -> aliases.deleteAlias("alias/orders"), KmsErrorType.NotFoundException);
    assertError(() -> aliases.updateAlias("alias/orders", key.keyId()), KmsErrorType.NotFoundException);
  }

  @Test
  void namesFollowEveryRule() {
    assertThat(error(() -> aliases.createAlias("orders", key.keyId()))).hasMessage("Alias must start with the prefix "
        + "\"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
    assertThat(error(() -> aliases.createAlias("alias/a:b", key.keyId())))
        .hasMessage("alias/a:b contains invalid characters for an alias")
        .extracting(e -> e.type()).isEqualTo(KmsErrorType.InvalidAliasNameException);
    assertError(() -> aliases.createAlias("alias/aws/mine", key.keyId()), KmsErrorType.InvalidAliasNameException);
    assertError(() -> aliases.createAlias("alias/" + "x".repeat(251), key.keyId()), KmsErrorType.ValidationException);
    assertError(() -> aliases.createAlias("alias/has space", key.keyId()), KmsErrorType.ValidationException);
    assertError(() -> aliases.createAlias("alias/x", "alias/y"), KmsErrorType.ValidationException);
    assertError(() -> aliases.createAlias("alias/x", "0000aaaa-1111-2222-3333-444455556666"),
        KmsErrorType.NotFoundException);
  }

  @Test
  void fiftyPerKeyAndNoneToAKeyPendingDeletion() {
    for (int i = 0; i < 50; i++) {
      aliases.createAlias("alias/many-" + i, key.keyId());
    }
    assertError(() -> aliases.createAlias("alias/one-too-many", key.keyId()), KmsErrorType.LimitExceededException);

    keys.deletions().scheduleKeyDeletion(other.keyId(), 7);
    assertThat(error(() -> aliases.createAlias("alias/doomed", other.keyId())))
        .hasMessage(other.arn() + " is pending deletion.");
  }

  @Test
  void listsAllOrOneKeysAliasesPageByPage() {
    aliases.createAlias("alias/a", key.keyId());
    aliases.createAlias("alias/b", key.keyId());
    aliases.createAlias("alias/c", other.keyId());

    assertThat(aliases.listAliases(key.keyId(), null, null).aliases()).extracting(AliasListEntry::aliasName)
        .containsExactly("alias/a", "alias/b");
    ListAliasesResponse first = aliases.listAliases(null, 2, null);
    ListAliasesResponse second = aliases.listAliases(null, 2, first.nextMarker().orElseThrow());
    List<String> names = new ArrayList<>();
    first.aliases().forEach(alias -> names.add(alias.aliasName()));
    second.aliases().forEach(alias -> names.add(alias.aliasName()));
    assertThat(names).containsExactly("alias/a", "alias/b", "alias/c");
    assertThat(first.aliases().get(0).aliasArn()).isEqualTo(ALIAS_ARN_PREFIX + "alias/a");
    assertThat(first.aliases().get(0).targetKeyId()).isEqualTo(key.keyId());
    assertError(() -> aliases.listAliases(null, 101, null), KmsErrorType.ValidationException);
  }

  @Test
  void deletingAKeyDeletesItsAliases() {
    Clock later = Clock.offset(Clock.systemUTC(), Duration.ofDays(8));
    aliases.createAlias("alias/gone", other.keyId());
    keys.deletions().scheduleKeyDeletion(other.keyId(), 7);
    KmsKeys afterTheWindow = new KmsKeys(fixture.metadata, fixture.registry, null, fixture.connections,
        new Account("111122223333", "us-east-1"), later);
    assertThat(afterTheWindow.deletions().deleteDueKeys()).containsExactly(other.arn());
    assertThat(afterTheWindow.aliases().listAliases(null, null, null).aliases()).isEmpty();
  }
}
