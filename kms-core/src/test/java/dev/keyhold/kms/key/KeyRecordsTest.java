package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.time.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one key resolution and its cache: a resolved key is served from memory until a change to it,
 * its policy or an alias that names it, and every such change is seen by the next resolution.
 */
class KeyRecordsTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final String DENY_ENCRYPT = "{\"Version\": \"2012-10-17\", \"Statement\": ["
      + "{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"111122223333\"}, \"Action\": \"kms:*\", \"Resource\": \"*\"},"
      + "{\"Effect\": \"Deny\", \"Principal\": \"*\", \"Action\": \"kms:Encrypt\", \"Resource\": \"*\"}]}";

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private KmsKeys keys;
  private KeyRecords records;
  private KeyMetadata key;
  private KeyMetadata other;

  @BeforeEach
  void createKeys() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    fixture.open();
    keys = fixture.kmsKeys(Clock.systemUTC());
    records = keys.resolver();
    String store = fixture.connectedStore("records", cluster);
    key = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "one"));
    other = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "two"));
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void aKeyIsResolvedOnceWithItsPolicyAndThenServedFromMemory() {
    ResolvedKey first = records.resolve(key.keyId());

    assertThat(first.arn()).isEqualTo(key.arn());
    assertThat(first.state()).isEqualTo(KeyState.Enabled);
    assertThat(first.policy().document()).isEqualTo(KeyPolicies.defaultPolicy(KeyStoreFixture.ACCOUNT));
    assertThat(records.resolve(key.arn())).isSameAs(first);
    assertThat(records.resolve(key.keyId())).isSameAs(first);
  }

  @Test
  void aStartReadsEveryKeyIntoTheCacheAtOnceParsingEachPolicyDocumentOnce() {
    KeyRecords started = fixture.kmsKeys(Clock.systemUTC()).resolver();

    assertThat(started.preload()).isEqualTo(2);
    // Changed behind the cache, with no notification: only a copy read before answers as it was.
    fixture.metadata.inTransaction(c -> {
      try (PreparedStatement update = c.prepareStatement("UPDATE kms_keys SET description = 'changed unseen'")) {
        return update.executeUpdate();
      }
    });
    assertThat(started.resolve(key.keyId()).record().description()).isEqualTo("one");
    assertThat(started.resolve(other.keyId()).record().description()).isEqualTo("two");
    assertThat(started.resolve(other.keyId()).policy()).isSameAs(started.resolve(key.keyId()).policy());
  }

  @Test
  void aChangeOfStateOrPolicyIsSeenByTheNextResolution() {
    ResolvedKey before = records.resolve(key.keyId());

    keys.disableKey(key.keyId());
    assertThat(records.resolve(key.keyId()).state()).isEqualTo(KeyState.Disabled);

    keys.policies().putKeyPolicy(key.keyId(), "default", DENY_ENCRYPT);
    ResolvedKey after = records.resolve(key.keyId());
    assertThat(after).isNotSameAs(before);
    assertThat(after.policy().document()).isEqualTo(DENY_ENCRYPT);
    assertThat(records.resolve(other.keyId()).policy().document())
        .isEqualTo(KeyPolicies.defaultPolicy(KeyStoreFixture.ACCOUNT));
  }

  @Test
  void anAliasFollowsItsTargetAndIsForgottenWhenDeleted() {
    keys.aliases().createAlias("alias/orders", key.keyId());
    assertThat(records.resolve("alias/orders").keyId()).isEqualTo(key.keyId());

    keys.aliases().updateAlias("alias/orders", other.keyId());
    assertThat(records.resolve("alias/orders").keyId()).isEqualTo(other.keyId());

    keys.aliases().deleteAlias("alias/orders");
    assertThat(error(() -> records.resolve("alias/orders")).type()).isEqualTo(KmsErrorType.NotFoundException);
  }

  @Test
  void aKeyScheduledForDeletionResolvesPendingDeletion() {
    records.resolve(key.keyId());

    keys.deletions().scheduleKeyDeletion(key.keyId(), 7);

    assertThat(records.resolve(key.keyId()).state()).isEqualTo(KeyState.PendingDeletion);
  }
}
