package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.kms.metadata.TestMetadata;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes on one real PostgreSQL: node A changes a key, node B, which has the key in its cache and
 * reads its metadata through a store of its own (its own pool and its own LISTEN connection), sees
 * the change within a second, without reading the database on the hot path. Always on PostgreSQL:
 * the embedded H2 store serves one process.
 */
class ChangesAcrossNodesTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  /** The bound on how long a change takes to reach every node. */
  private static final Duration BOUND = Duration.ofSeconds(1);
  /** A listener waits half a second before it connects again, then forgets the whole cache. */
  private static final Duration RECONNECTED = Duration.ofSeconds(5);
  private static final String DENY_ENCRYPT = "{\"Version\": \"2012-10-17\", \"Statement\": ["
      + "{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"111122223333\"}, \"Action\": \"kms:*\", \"Resource\": \"*\"},"
      + "{\"Effect\": \"Deny\", \"Principal\": \"*\", \"Action\": \"kms:Encrypt\", \"Resource\": \"*\"}]}";

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private KmsKeys nodeA;
  private JdbcMetadataStore nodeBMetadata;
  private KmsKeys nodeB;
  private KmsCrypto nodeBCrypto;
  private KeyMetadata key;
  private KeyMetadata other;

  @BeforeEach
  void twoNodes() throws Exception {
    fixture = KeyStoreFixture.onPostgresql(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    fixture.open();
    nodeA = fixture.kmsKeys(Clock.systemUTC());
    String store = fixture.connectedStore("nodes", cluster);
    key = nodeA.createKey(CreateKeyRequest.inCustomKeyStore(store, "one"));
    other = nodeA.createKey(CreateKeyRequest.inCustomKeyStore(store, "two"));
    nodeBMetadata = TestMetadata.openOnPostgresql(data);
    nodeB = new KmsKeys(nodeBMetadata, fixture.registry, fixture.keyStores, fixture.connections,
        KeyStoreFixture.ACCOUNT, Clock.systemUTC(), Optional.empty(), new ServiceNode("b", Duration.ofSeconds(30)),
        Checkpoints.NONE);
    nodeBCrypto = new KmsCrypto(nodeB, fixture.keyStores, fixture.connections);
  }

  @AfterEach
  void close() throws Exception {
    nodeBMetadata.close();
    fixture.close();
  }

  @Test
  void aDisabledKeyIsRefusedOnTheOtherNodeWithinASecond() throws InterruptedException {
    encryptOnB(key.keyId());

    nodeA.disableKey(key.keyId());

    assertWithinBound(() -> refusedOnB(key.keyId(), KmsErrorType.DisabledException));
    nodeA.enableKey(key.keyId());
    assertWithinBound(() -> !refusedOnB(key.keyId(), KmsErrorType.DisabledException));
  }

  @Test
  void aPolicyAndAnAliasChangedOnOneNodeReachTheOther() throws InterruptedException {
    ResolvedKey cached = nodeB.resolver().resolve(key.keyId());
    nodeA.aliases().createAlias("alias/orders", key.keyId());
    assertThat(nodeB.resolver().resolve("alias/orders").keyId()).isEqualTo(key.keyId());

    nodeA.policies().putKeyPolicy(key.keyId(), "default", DENY_ENCRYPT);
    nodeA.aliases().updateAlias("alias/orders", other.keyId());

    assertWithinBound(() -> nodeB.resolver().resolve(key.keyId()).policy().document().equals(DENY_ENCRYPT));
    assertThat(nodeB.resolver().resolve(key.keyId())).isNotSameAs(cached);
    assertWithinBound(() -> nodeB.resolver().resolve("alias/orders").keyId().equals(other.keyId()));
  }

  @Test
  void aGrantCreatedOrRevokedOnOneNodeReachesTheOther() throws InterruptedException {
    assertThat(nodeB.resolver().resolve(key.keyId()).grants()).isEmpty();
    KeyGrants grantsOnA = new KeyGrants(fixture.metadata, nodeA, MasterKey.load(data.resolve("master.key")),
        KeyStoreFixture.ACCOUNT, Clock.systemUTC());

    CreateGrantResponse created = grantsOnA.createGrant(nodeA.resolver().resolve(key.keyId()), new CreateGrantRequest(
        key.keyId(), "arn:aws:iam::111122223333:user/bob", null, List.of("Encrypt"), null, null, null));

    assertWithinBound(() -> nodeB.resolver().resolve(key.keyId()).grants().size() == 1);
    grantsOnA.deleteGrant(grantsOnA.named(nodeA.resolver().resolve(key.keyId()), created.grantId()), null);
    assertWithinBound(() -> nodeB.resolver().resolve(key.keyId()).grants().isEmpty());
  }

  @Test
  void aNodeThatLostItsNotificationsForgetsItsCacheWhenItReconnects() throws Exception {
    encryptOnB(key.keyId());

    terminateListeners(fixture.metadata);
    nodeA.disableKey(key.keyId()); // possibly while node B's listener is away

    assertWithin(RECONNECTED, () -> refusedOnB(key.keyId(), KmsErrorType.DisabledException));
  }

  private byte[] encryptOnB(String keyId) {
    return nodeBCrypto.encrypt(new EncryptRequest(keyId, new byte[] {1, 2, 3}, null, null)).ciphertextBlob();
  }

  private boolean refusedOnB(String keyId, KmsErrorType type) {
    try {
      encryptOnB(keyId);
      return false;
    } catch (KmsException e) {
      return e.type() == type;
    }
  }

  /** Ends every listener's connection, as a network failure between the nodes and PostgreSQL would. */
  private static void terminateListeners(MetadataStore metadata) throws InterruptedException {
    // Each store's listener connects on a thread of its own: both must be there to be cut off.
    assertWithin(RECONNECTED, () -> listenerSessions(metadata, "COUNT(*)") >= 2);
    assertThat(listenerSessions(metadata, "COUNT(pg_terminate_backend(pid))")).isGreaterThanOrEqualTo(2);
  }

  private static int listenerSessions(MetadataStore metadata, String aggregate) {
    return metadata.inTransaction(c -> {
      try (Statement statement = c.createStatement();
          ResultSet rows = statement.executeQuery("SELECT " + aggregate + " FROM pg_stat_activity "
              + "WHERE application_name = 'keyhold-metadata-listener'")) {
        rows.next();
        return rows.getInt(1);
      }
    });
  }

  private static void assertWithinBound(BooleanSupplier condition) throws InterruptedException {
    assertWithin(BOUND, condition);
  }

  private static void assertWithin(Duration bound, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("seen within %s", bound).isLessThan(deadline);
      Thread.sleep(10);
    }
  }
}
