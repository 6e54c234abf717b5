package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The key material report (material missing per HSM, and orphans no KMS key owns), and the
 * reconciler's progress on it: it copies missing material in and finishes deletions.
 */
class KeyMaterialReportTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private CustomKeyStores keyStores;
  private Cluster cluster;
  private String storeId;

  @BeforeEach
  void connect() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    cluster = fixture.newCluster(2);
    keyStores = fixture.open();
    storeId = keyStores.createCustomKeyStore(fixture.createRequest("report", cluster));
    reconnect();
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  @DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
      disabledReason = "HSMs that hold different keys: a CloudHSM cluster syncs them, and Keyhold sees one slot")
  void showsWhichHsmsLackAKeysMaterialAndWhatNoKeyOwnsAndTheReconcilerFillsTheGap() {
    KmsKeys keys = keys(Clock.systemUTC());
    KeyMetadata key = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, null));
    String second = cluster.hsms().get(1).hsmId();
    token(second).destroyKey(token(second).findAesKey(key.arn()).orElseThrow()); // as if down at CreateKey
    String strayArn = "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-1111-2222-3333-444455556666";
    token(second).generateAesKey(AesKeyTemplate.builder(AesKey.of(strayArn, new byte[] {1})).build());

    KeyMaterialReport report = keys.materialReports().keyMaterialReport(storeId);

    assertThat(report.missing()).singleElement().satisfies(missing -> {
      assertThat(missing.arn()).isEqualTo(key.arn());
      assertThat(missing.hsmIds()).containsExactly(second);
    });
    assertThat(report.orphans()).containsExactly(new KeyMaterialReport.Orphan(second, strayArn));

    new KeyReplication(keys, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC()).runOnce();
    assertThat(keys.materialReports().keyMaterialReport(storeId).missing()).as("copied in by the reconciler").isEmpty();
    assertThat(keys.materialReports().keyMaterialReport(storeId).orphans()).as("material no key ever owned is the operator's call")
        .containsExactly(new KeyMaterialReport.Orphan(second, strayArn));
  }

  @Test
  void aDeletionThatCouldNotReachTheHsmsIsFinishedByTheReconciler() throws Exception {
    KmsKeys keys = keys(Clock.offset(Clock.systemUTC(), Duration.ofDays(31)));
    KeyMetadata key = keys(Clock.systemUTC()).createKey(CreateKeyRequest.inCustomKeyStore(storeId, null));
    keys.deletions().scheduleKeyDeletion(key.keyId(), 30);
    keyStores.disconnectCustomKeyStore(storeId);

    assertThat(keys(Clock.offset(Clock.systemUTC(), Duration.ofDays(61))).deletions().deleteDueKeys()).containsExactly(key.arn());
    assertThat(deletionStatuses()).containsOnlyKeys(hsmIds()).doesNotContainValue("SUCCESS");
    reconnect();

    KeyMaterialReport report = keys.materialReports().keyMaterialReport(storeId);
    assertThat(report.missing()).isEmpty();
    assertThat(report.orphans()).extracting(KeyMaterialReport.Orphan::label).containsExactly(key.arn(), key.arn());

    new KeyReplication(keys, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC()).runOnce();
    assertThat(keys.materialReports().keyMaterialReport(storeId).orphans()).as("destroyed on every HSM, never copied back").isEmpty();
    assertThat(deletionStatuses()).containsOnlyKeys(hsmIds()).containsValues("SUCCESS").doesNotContainValue("FAILURE");
  }

  @Test
  @DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
      disabledReason = "HSMs that hold different keys: a CloudHSM cluster syncs them, and Keyhold sees one slot")
  void withAnHsmUnreachableDeletionRecordsItsFailureAndTheReconcilerFinishesItWhenItIsBack() throws Exception {
    KeyMetadata key = keys(Clock.systemUTC()).createKey(CreateKeyRequest.inCustomKeyStore(storeId, null));
    String away = cluster.hsms().get(0).hsmId();
    keys(Clock.systemUTC()).deletions().scheduleKeyDeletion(key.keyId(), 7);

    // One HSM goes away; the store reconnects to the other one.
    HsmState[] states = cluster.hsms().stream()
        .map(hsm -> hsm.hsmId().equals(away) ? HsmState.DEGRADED : HsmState.ACTIVE).toArray(HsmState[]::new);
    fixture.withStates(cluster, states);
    keyStores = fixture.open();
    keyStores.resume();
    keyStores.disconnectCustomKeyStore(storeId);
    reconnect();
    assertThat(fixture.connections.connected(storeId).orElseThrow().tokens()).doesNotContainKey(away);

    assertThat(keys(Clock.offset(Clock.systemUTC(), Duration.ofDays(8))).deletions().deleteDueKeys()).containsExactly(key.arn());
    assertThat(deletionStatuses()).containsEntry(away, "FAILURE").containsValue("SUCCESS");

    fixture.add(cluster); // the HSM is back
    keyStores = fixture.open();
    keyStores.resume();
    fixture.awaitSettled(storeId);
    KmsKeys keys = keys(Clock.systemUTC());
    assertThat(keys.materialReports().keyMaterialReport(storeId).orphans()).containsExactly(new KeyMaterialReport.Orphan(away, key.arn()));
    new KeyReplication(keys, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC()).runOnce();
    assertThat(keys.materialReports().keyMaterialReport(storeId).orphans()).isEmpty();
    assertThat(deletionStatuses()).containsEntry(away, "SUCCESS");
  }

  private List<String> hsmIds() {
    return cluster.hsms().stream().map(Hsm::hsmId).toList();
  }

  private Map<String, String> deletionStatuses() {
    return fixture.metadata.inTransaction(c -> {
      Map<String, String> statuses = new HashMap<>();
      try (Statement statement = c.createStatement();
          ResultSet rows = statement.executeQuery("SELECT hsm_id, status FROM key_material_deletions")) {
        while (rows.next()) {
          statuses.put(rows.getString(1), rows.getString(2));
        }
      }
      return statuses;
    });
  }

  private KmsKeys keys(Clock clock) {
    return fixture.kmsKeys(clock);
  }

  private Token token(String hsmId) {
    return fixture.connections.connected(storeId).orElseThrow().tokens().get(hsmId);
  }

  private void reconnect() throws InterruptedException {
    keyStores.connectCustomKeyStore(storeId);
    assertThat(fixture.awaitSettled(storeId).connectionState()).isEqualTo(ConnectionState.CONNECTED);
  }
}
