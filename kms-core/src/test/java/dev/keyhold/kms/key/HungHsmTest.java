package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.keystore.ConnectionErrorCode;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStoresListEntry;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.pkcs11.CallWatchdog;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.shims.HsmOutages;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Non-idempotent work that an HSM hangs in the middle of (the outage shim's hang mode, 500 ms
 * deadlines): the caller is let go at the deadline, and what the late call leaves once the HSM
 * answers again is found and settled. A CreateKey leaves no record and no material; a connect ends
 * FAILED at once, other stores connect meanwhile, and the next connect of the store succeeds.
 */
@DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
    disabledReason = "hangs one HSM by its SoftHSM2 token's label; behind a CloudHSM slot the cluster serves on (CloudHsmStandInTest)")
class HungHsmTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final Duration DEADLINE = Duration.ofMillis(500);

  @TempDir Path data;
  @TempDir Path work;
  private HsmOutages outages;
  private KeyStoreFixture fixture;
  private Cluster cluster;
  private Cluster other;
  private String hanging;
  private final ExecutorService callers = Executors.newCachedThreadPool();

  @BeforeEach
  void setUp() {
    outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    fixture = new KeyStoreFixture(softhsm, data);
    fixture.sessions = SessionPoolConfig.of(2, Duration.ofSeconds(5)).withCallDeadline(DEADLINE);
    cluster = fixture.through(fixture.newCluster(2), outages.module());
    hanging = cluster.hsms().get(1).tokenLabel();
    other = fixture.newCluster(2);
    fixture.open();
  }

  @AfterEach
  void tearDown() throws Exception {
    outages.release(hanging); // a thread blocked in the shim would keep the JVM from ending
    callers.shutdownNow();
    fixture.close();
  }

  @Test
  void aCreateKeyWhoseHsmHangsLeavesNoRecordAndNoMaterialOnceTheHsmAnswers() throws Exception {
    String store = fixture.connectedStore("hung-create", cluster);
    // Filled now, so that the background fill after the connect never meets the hang this test makes.
    fixture.connections.connected(store).orElseThrow().tokens().values().forEach(Token::fillKeyIndex);
    KmsKeys keys = fixture.kmsKeys(new ServiceNode("hung", Duration.ofSeconds(1)), Checkpoints.NONE);
    KeyReplication reconciler =
        new KeyReplication(keys, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC());

    outages.hang(hanging);
    Future<KeyMetadata> create = callers.submit(() -> keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "hung")));
    await(Duration.ofSeconds(10), () -> CallWatchdog.stuckCalls() > 0);
    assertThat(create).as("held by the hung HSM").isNotDone();
    Thread.sleep(1500); // its lease ends
    reconciler.runOnce(); // the rollback revokes the lease; the hung HSM cannot be cleaned yet

    outages.release(hanging);
    assertThat(failureOf(create)).isInstanceOf(KmsException.class);
    await(Duration.ofSeconds(15), () -> {
      reconciler.runOnce();
      KeyMaterialReport report = keys.materialReports().keyMaterialReport(store);
      return report.orphans().isEmpty() && report.missing().isEmpty() && report.keysWithoutMaterial().isEmpty()
          && report.unreachableHsmIds().isEmpty() && keys.listKeys(null, null).keys().isEmpty();
    });
    await(Duration.ofSeconds(10), () -> CallWatchdog.stuckCalls() == 0); // every late call has returned
    // Both HSMs serve again: a new key needs two.
    keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "after"));
  }

  @Test
  void aConnectWhoseHsmHangsEndsFailedAndTheNextConnectSucceeds() throws Exception {
    String store = fixture.keyStores.createCustomKeyStore(fixture.createRequest("hung-connect", cluster));
    outages.hang(hanging);

    fixture.keyStores.connectCustomKeyStore(store);
    CustomKeyStoresListEntry failed = fixture.awaitSettled(store);
    assertThat(failed.connectionState()).isEqualTo(ConnectionState.FAILED);
    assertThat(failed.connectionErrorCode()).contains(ConnectionErrorCode.NETWORK_ERRORS);
    // The connector was not kept by the hung HSM: another store connects meanwhile.
    fixture.connectedStore("meanwhile", other);

    outages.release(hanging);
    await(Duration.ofSeconds(10), () -> CallWatchdog.stuckCalls() == 0);
    fixture.keyStores.disconnectCustomKeyStore(store); // as AWS asks of a FAILED store
    fixture.keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    fixture.kmsKeys(Clock.systemUTC()).createKey(CreateKeyRequest.inCustomKeyStore(store, "both HSMs logged in"));
  }

  private static Throwable failureOf(Future<?> future) throws InterruptedException {
    try {
      future.get(30, TimeUnit.SECONDS);
      throw new AssertionError("expected the CreateKey to fail");
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("the CreateKey did not return after the HSM answered", e);
    }
  }

  private static void await(Duration bound, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("within %s", bound).isLessThan(deadline);
      Thread.sleep(100);
    }
  }
}
