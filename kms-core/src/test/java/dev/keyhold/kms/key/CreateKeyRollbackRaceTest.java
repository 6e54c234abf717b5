package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.keystore.CheckpointHolds;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The crash rollback never destroys a key whose CreateKey answered success, however the two
 * interleave. Two nodes share one metadata store and one cluster: node "dead" stops inside a CreateKey
 * and never comes back (its lease runs out), node "live" runs a CreateKey that is held at each durable
 * step in turn while live's rollback pass runs, either wholly or with the pass held after it read its
 * candidates while the CreateKey finishes. Afterwards the live key is listed, Enabled and usable on
 * every HSM; the dead node's key is gone, material and record, and its CreateKey, when it finally
 * wakes, fails and leaves nothing behind.
 */
class CreateKeyRollbackRaceTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final Duration DEAD_LEASE = Duration.ofMillis(300);

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private String storeId;
  private final CheckpointHolds liveSteps = new CheckpointHolds();
  private final CheckpointHolds deadSteps = new CheckpointHolds();
  private KmsKeys live;
  private KmsKeys dead;
  private KeyReplication rollback;
  private final ExecutorService threads = Executors.newCachedThreadPool();

  @BeforeEach
  void twoNodesOverOneStore() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    fixture.open();
    storeId = fixture.connectedStore("race", cluster);
    live = fixture.kmsKeys(new ServiceNode("live", Duration.ofSeconds(60)), liveSteps);
    dead = fixture.kmsKeys(new ServiceNode("dead", DEAD_LEASE), deadSteps);
    rollback = new KeyReplication(live, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC());
  }

  @AfterEach
  void close() throws Exception {
    threads.shutdownNow();
    threads.awaitTermination(30, TimeUnit.SECONDS);
    fixture.close();
  }

  @ParameterizedTest
  @MethodSource("dev.keyhold.kms.key.CreateKeySteps#all")
  void aRollbackPassWhileACreateKeyIsHeldKeepsTheAcknowledgedKey(String step) throws Exception {
    Interrupted interrupted = deadCreateKeyHeldAt(step);
    CheckpointHolds.Hold held = liveSteps.hold(step);
    Future<KeyMetadata> acknowledged = threads.submit(() -> live.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "live")));
    held.awaitReached();

    rollback.runOnce();
    held.release();

    checkOutcome(acknowledged.get(60, TimeUnit.SECONDS), interrupted);
  }

  @ParameterizedTest
  @MethodSource("dev.keyhold.kms.key.CreateKeySteps#beforeEnabled")
  void aCreateKeyThatFinishesWhileARollbackPassWalksItsListIsKept(String step) throws Exception {
    Interrupted interrupted = deadCreateKeyHeldAt(step);
    CheckpointHolds.Hold held = liveSteps.hold(step);
    Future<KeyMetadata> acknowledged = threads.submit(() -> live.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "live")));
    held.awaitReached();
    CheckpointHolds.Hold listed = liveSteps.hold("rollback-listed");
    Future<?> pass = threads.submit(rollback::runOnce);
    listed.awaitReached();

    held.release();
    KeyMetadata key = acknowledged.get(60, TimeUnit.SECONDS);
    listed.release();
    pass.get(60, TimeUnit.SECONDS);

    checkOutcome(key, interrupted);
  }

  /** A CreateKey on the dead node, and where it is held. */
  private record Interrupted(Future<KeyMetadata> createKey, CheckpointHolds.Hold hold) {}

  /** A CreateKey on the dead node, held at {@code step} (or just before enabling) until its lease has run out. */
  private Interrupted deadCreateKeyHeldAt(String step) throws Exception {
    CheckpointHolds.Hold hold = deadSteps.hold(step.equals("enabled") ? "enabling" : step);
    Future<KeyMetadata> createKey = threads.submit(() -> dead.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "dead")));
    hold.awaitReached();
    Thread.sleep(DEAD_LEASE.multipliedBy(3).toMillis());
    return new Interrupted(createKey, hold);
  }

  private void checkOutcome(KeyMetadata key, Interrupted interrupted) throws Exception {
    assertThat(key.keyState()).isEqualTo(KeyState.Enabled);
    rollback.runOnce(); // a later pass must not take it either

    assertThat(live.describeKey(key.keyId()).keyState()).isEqualTo(KeyState.Enabled);
    assertThat(live.listKeys(null, null).keys()).extracting(ListKeysResponse.Entry::keyId)
        .containsExactly(key.keyId());
    KmsCrypto crypto = new KmsCrypto(live, fixture.keyStores, fixture.connections);
    byte[] blob = crypto.encrypt(new EncryptRequest(key.keyId(), new byte[] {1, 2, 3}, null, null)).ciphertextBlob();
    assertThat(crypto.decrypt(new DecryptRequest(blob, null, null, null)).plaintext()).containsExactly(1, 2, 3);
    assertThat(creatingRecords()).as("the interrupted CreateKey's record is gone").isZero();

    interrupted.hold().release();
    ExecutionException failure = assertThrows(ExecutionException.class,
        () -> interrupted.createKey().get(60, TimeUnit.SECONDS));
    assertThat(failure.getCause()).isInstanceOf(KmsException.class);
    assertThat(((KmsException) failure.getCause()).type()).isEqualTo(KmsErrorType.KMSInternalException);
    assertThat(failure.getCause().getMessage()).contains("outlasted its lease");

    KeyMaterialReport report = live.materialReports().keyMaterialReport(storeId);
    assertThat(report.missing()).as("the acknowledged key on every HSM").isEmpty();
    assertThat(report.orphans()).as("nothing of the interrupted key left on any HSM").isEmpty();
    assertThat(creatingRecords()).isZero();
    assertThat(live.listKeys(null, null).keys()).hasSize(1);
  }

  private int creatingRecords() {
    return fixture.metadata.inTransaction(c -> {
      try (Statement statement = c.createStatement();
          ResultSet rows = statement.executeQuery("SELECT COUNT(*) FROM kms_keys WHERE key_state = 'Creating'")) {
        rows.next();
        return rows.getInt(1);
      }
    });
  }
}
