package dev.keyhold.server.ops;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.ClusterHealth;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The metrics and the health report over a real key store connected to two SoftHSM2 HSMs. */
class OpsOverSoftHsmTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);

  @TempDir Path data;

  @Test
  void readTheConnectionsAndTheReconcilersFindings() throws Exception {
    Cluster cluster = new LocalClusterProvisioner(softhsm.module(), data.resolve("clusters.json"))
        .provision(ClusterId.random(new SecureRandom()), 2, Optional.empty(), softhsm.soPin(), softhsm.kmsuserPin())
        .cluster();
    ClusterRegistry registry = ClusterRegistry.empty().with(cluster);
    MasterKey masterKey = MasterKey.loadOrCreate(data.resolve("master.key"));
    try (JdbcMetadataStore metadata = JdbcMetadataStore.embedded(data);
        Keyhold keyhold = Keyhold.open(metadata, registry, masterKey,
            Keyhold.Options.of(new Account("111122223333", "us-east-1"))
                .withSessions(SessionPoolConfig.of(2, Duration.ofSeconds(5))))) {
      connectAndScrape(cluster, keyhold);
    }
  }

  private static void connectAndScrape(Cluster cluster, Keyhold keyhold) throws Exception {
    CustomKeyStores keyStores = keyhold.keyStores();
    KeyReplication replication = keyhold.replication();
    String storeId = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest(
        "ops", cluster.clusterId(), cluster.trustAnchor().pem(), softhsm.kmsuserPin(), null));
    keyStores.connectCustomKeyStore(storeId);
    assertThat(keyStores.awaitConnected(storeId, Duration.ofSeconds(30)).connectionState())
        .isEqualTo(ConnectionState.CONNECTED);
    ServiceMetrics metrics = ServiceMetrics.create(keyhold);

    Exposition connected = Exposition.scrape(metrics);

    // Connected, but not yet checked by the reconciler: sessions show, health does not yet.
    for (Hsm hsm : cluster.hsms()) {
      assertThat(connected.value("keyhold_hsm_sessions_in_use", Map.of("key_store", storeId, "hsm", hsm.hsmId())))
          .hasValue(0);
    }
    assertThat(connected.named("keyhold_cluster_health")).isEmpty();
    assertThat(HealthReport.of(keyhold.nodeName(), keyhold.roles(), replication.health()).toJson()).contains("\"keyStoresChecked\":0");

    replication.runOnce();
    Exposition checked = Exposition.scrape(metrics);

    assertThat(checked.value("keyhold_cluster_health", Map.of("key_store", storeId, "cluster", cluster.clusterId())))
        .hasValue(1);
    for (Hsm hsm : cluster.hsms()) {
      Map<String, String> labels = Map.of("key_store", storeId, "hsm", hsm.hsmId());
      assertThat(checked.value("keyhold_hsm_health", labels)).hasValue(1);
      assertThat(checked.value("keyhold_hsm_keys_missing", labels)).hasValue(0);
    }
    HealthReport report = HealthReport.of(keyhold.nodeName(), keyhold.roles(), replication.health());
    assertThat(report.status()).isEqualTo(ClusterHealth.State.ACTIVE);
    assertThat(report.httpStatus()).isEqualTo(200);
    assertThat(report.toJson()).contains("\"id\":\"" + storeId + "\",\"cluster\":\"" + cluster.clusterId() + "\"");
  }
}
