package dev.keyhold.kms.keystore;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.TestMetadata;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes on one real PostgreSQL: ConnectCustomKeyStore on node A logs node B in to the store too,
 * with B's own sessions and the password A's connect rotated to; DisconnectCustomKeyStore on A logs B
 * out; a node that starts while the store is CONNECTED joins it without changing its state.
 */
class KeyStoresAcrossNodesTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  /** A login to every HSM is part of what is awaited. */
  private static final Duration BOUND = Duration.ofSeconds(10);

  @TempDir Path data;
  private KeyStoreFixture nodeA;
  private JdbcMetadataStore metadataB;
  private KeyStoreConnections connectionsB;
  private CustomKeyStores keyStoresB;
  private Cluster cluster;

  @BeforeEach
  void twoNodes() {
    nodeA = KeyStoreFixture.onPostgresql(softhsm, data);
    cluster = nodeA.newCluster(2);
    nodeA.open();
  }

  @AfterEach
  void close() throws Exception {
    if (keyStoresB != null) {
      keyStoresB.close();
      metadataB.close();
    }
    nodeA.close();
  }

  @Test
  void aConnectOnOneNodeLogsTheOtherInAndADisconnectLogsItOut() throws Exception {
    startNodeB();
    String store = nodeA.connectedStore("shared", cluster);

    awaitWithin(() -> connectionsB.connected(store).isPresent());
    assertThat(connectionsB.connected(store).orElseThrow().tokens()).hasSize(2);
    assertThat(keyStoresB.describe(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);

    nodeA.keyStores.disconnectCustomKeyStore(store);
    awaitWithin(() -> connectionsB.connected(store).isEmpty());

    nodeA.keyStores.connectCustomKeyStore(store); // rotates kmsuser's password again
    assertThat(nodeA.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    awaitWithin(() -> connectionsB.connected(store).isPresent());
  }

  @Test
  void aNodeThatStartsJoinsAConnectedStoreWithoutChangingIt() throws Exception {
    String store = nodeA.connectedStore("running", cluster);

    startNodeB();
    keyStoresB.resume();

    assertThat(connectionsB.connected(store)).isPresent();
    assertThat(nodeA.describe(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(nodeA.connections.connected(store)).isPresent();
  }

  private void startNodeB() {
    metadataB = TestMetadata.openOnPostgresql(data);
    MasterKey masterKey = MasterKey.load(data.resolve("master.key"));
    connectionsB = new KeyStoreConnections(metadataB, nodeA.registry, masterKey,
        SessionPoolConfig.of(2, Duration.ofSeconds(5)), Checkpoints.NONE);
    keyStoresB = new CustomKeyStores(metadataB, nodeA.registry, masterKey, Clock.systemUTC(), connectionsB);
  }

  private static void awaitWithin(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("seen within %s", BOUND).isLessThan(deadline);
      Thread.sleep(20);
    }
  }
}
