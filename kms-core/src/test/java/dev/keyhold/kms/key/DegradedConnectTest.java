package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.keystore.ConnectionErrorCode;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.kms.keystore.ServingHsm;
import dev.keyhold.shims.HsmOutages;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A key store connects, and a service restarts, with one HSM of two gone, as AWS connects a CloudHSM
 * key store with one active HSM: CONNECTED, every key encrypts and decrypts, CreateKey waits for two
 * HSMs, and the cluster is DEGRADED. The HSM that returns is logged in without a restart, with the
 * password the store records for it, and the reconciler brings its keys in. The HSMs are real
 * SoftHSM2 tokens behind {@link HsmOutages}.
 */
@DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
    disabledReason = "takes one HSM down by its SoftHSM2 token's label; behind a CloudHSM slot the cluster serves on (CloudHsmStandInTest)")
class DegradedConnectTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final Map<String, String> CONTEXT = Map.of("purpose", "degraded");

  @TempDir Path data;
  @TempDir Path work;
  private HsmOutages outages;
  private KeyStoreFixture fixture;
  private Cluster cluster;
  private Hsm gone;

  @BeforeEach
  void setUp() {
    outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    fixture = new KeyStoreFixture(softhsm, data);
    cluster = fixture.through(fixture.newCluster(2), outages.module());
    gone = cluster.hsms().get(1);
    fixture.open();
  }

  @AfterEach
  void tearDown() throws Exception {
    outages.bringBack(gone.tokenLabel());
    fixture.close();
  }

  @Test
  void aRestartWithOneHsmGoneServesEveryKeyAndTakesTheHsmBackWhenItReturns() throws Exception {
    String store = fixture.connectedStore("degraded", cluster);
    KmsKeys keys = fixture.kmsKeys(Clock.systemUTC());
    List<byte[]> blobs = new ArrayList<>();
    List<String> keyIds = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String keyId = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "before " + i)).keyId();
      keyIds.add(keyId);
      blobs.add(crypto(keys).encrypt(new EncryptRequest(keyId, new byte[] {(byte) i}, CONTEXT, null)).ciphertextBlob());
    }

    fixture.stop();
    outages.takeDown(gone.tokenLabel());
    fixture.open().resume();

    assertThat(fixture.describe(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(servingHsm(store).isAwaitingLogin()).isTrue();
    keys = fixture.kmsKeys(Clock.systemUTC());
    KmsCrypto crypto = crypto(keys);
    for (int i = 0; i < blobs.size(); i++) {
      assertThat(crypto.decrypt(new DecryptRequest(blobs.get(i), CONTEXT, null, null)).plaintext()).containsExactly(i);
      crypto.encrypt(new EncryptRequest(keyIds.get(i), new byte[] {7}, CONTEXT, null));
    }
    KmsKeys onOneHsm = keys;
    assertThatThrownBy(() -> onOneHsm.createKey(CreateKeyRequest.inCustomKeyStore(store, "refused")))
        .isInstanceOfSatisfying(KmsException.class,
            e -> assertThat(e.type()).isEqualTo(KmsErrorType.CloudHsmClusterInvalidConfigurationException));
    KeyReplication replication = replication(keys);
    replication.runOnce();
    assertThat(replication.health(store).orElseThrow().state()).isEqualTo(ClusterHealth.State.DEGRADED);

    fixture.connections.logInToReturningHsms();
    assertThat(servingHsm(store).isAwaitingLogin()).as("still gone").isTrue();
    outages.bringBack(gone.tokenLabel());
    fixture.connections.logInToReturningHsms();

    assertThat(servingHsm(store).isAwaitingLogin()).isFalse();
    assertThat(servingHsm(store).isLost()).isFalse();
    String created = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "after the return")).keyId();
    replication.runOnce();
    ClusterHealth health = replication.health(store).orElseThrow();
    assertThat(health.state()).isEqualTo(ClusterHealth.State.ACTIVE);
    assertThat(health.hsms()).allSatisfy(hsm -> assertThat(hsm.keysMissing()).isZero());

    onlyTheReturnedHsmUp();
    for (int i = 0; i < blobs.size(); i++) {
      assertThat(crypto.decrypt(new DecryptRequest(blobs.get(i), CONTEXT, null, null)).plaintext()).containsExactly(i);
    }
    crypto.encrypt(new EncryptRequest(created, new byte[] {1}, CONTEXT, null));
  }

  @Test
  void aConnectWithOneHsmGoneIsConnectedAndTheNextFullConnectRotatesThePassword() throws Exception {
    String store = fixture.keyStores.createCustomKeyStore(fixture.createRequest("later", cluster));
    outages.takeDown(gone.tokenLabel());

    fixture.keyStores.connectCustomKeyStore(store);

    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    outages.bringBack(gone.tokenLabel());
    fixture.connections.logInToReturningHsms();
    assertThat(servingHsm(store).isAwaitingLogin()).as("it holds the password the store knows").isFalse();

    fixture.keyStores.disconnectCustomKeyStore(store);
    fixture.keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    fixture.stop();
    fixture.open().resume(); // joins, or connects again in the background if the join fails
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(servingHsm(store).isAwaitingLogin()).as("both HSMs took the rotated password").isFalse();
  }

  @Test
  void aRotationACrashLeftHalfDoneServesDegradedAndIsFinishedOnceEveryHsmAnswers() throws Exception {
    String store = fixture.keyStores.createCustomKeyStore(fixture.createRequest("half-rotated", cluster));
    String firstRecorded = "recorded " + cluster.hsms().get(0).hsmId();
    fixture.open(step -> {
      if (step.equals(firstRecorded)) {
        throw new IllegalStateException("the service stops here");
      }
    });
    fixture.keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionErrorCode()).contains(ConnectionErrorCode.INTERNAL_ERROR);
    // The first HSM holds the new password, the second the old one; the store knows both.

    fixture.open();
    outages.takeDown(gone.tokenLabel());
    fixture.keyStores.disconnectCustomKeyStore(store);
    fixture.keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    outages.bringBack(gone.tokenLabel());
    fixture.connections.logInToReturningHsms();
    assertThat(servingHsm(store).isAwaitingLogin()).as("logged in with the old password it holds").isFalse();

    fixture.keyStores.disconnectCustomKeyStore(store);
    fixture.keyStores.connectCustomKeyStore(store); // every HSM answers: the rotation is finished
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    fixture.stop();
    fixture.open().resume(); // joins, or connects again in the background if the join fails
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(servingHsm(store).isAwaitingLogin()).as("both HSMs hold the promoted password").isFalse();
  }

  private ServingHsm servingHsm(String store) {
    return fixture.connections.connected(store).orElseThrow().hsms().stream()
        .filter(hsm -> hsm.hsmId().equals(gone.hsmId())).findFirst().orElseThrow();
  }

  private KmsCrypto crypto(KmsKeys keys) {
    return new KmsCrypto(keys, fixture.keyStores, fixture.connections);
  }

  private KeyReplication replication(KmsKeys keys) {
    return new KeyReplication(keys, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC());
  }

  private void onlyTheReturnedHsmUp() {
    outages.takeDown(cluster.hsms().get(0).tokenLabel());
  }
}
