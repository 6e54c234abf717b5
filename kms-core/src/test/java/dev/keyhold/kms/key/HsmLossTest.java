package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.kms.keystore.UpdateCustomKeyStoreRequest;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.shims.HsmOutages;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.ClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cluster that loses an HSM keeps serving: the HSMs are real SoftHSM2 tokens reached through
 * {@link HsmOutages}, a shim over the real library that makes a chosen token answer
 * {@code CKR_DEVICE_REMOVED} until it is brought back (or refuse only to generate keys).
 */
@DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
    disabledReason = "takes one HSM down by its SoftHSM2 token's label; behind a CloudHSM slot the cluster serves on (CloudHsmStandInTest)")
class HsmLossTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  private static final int CLIENTS = 8;
  private static final Map<String, String> CONTEXT = Map.of("purpose", "hsm-loss");

  @TempDir Path data;
  @TempDir Path work;
  private HsmOutages outages;
  private KeyStoreFixture fixture;
  private KeyReplication replication;

  @BeforeEach
  void setUp() {
    outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    fixture = new KeyStoreFixture(softhsm, data);
  }

  @AfterEach
  void tearDown() throws Exception {
    if (replication != null) {
      replication.close();
    }
    fixture.close();
  }

  @Test
  void losingOneOfTwoHsmsUnderLoadFailsNoCryptoAndBlocksCreateKeyUntilItReturns() throws Exception {
    Cluster cluster = connectThroughOutages(2);
    String store = fixture.connectedStore("two-hsms", cluster);
    KmsKeys keys = startReplication();
    KmsCrypto crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    String keyId = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "under load")).keyId();
    Hsm lost = cluster.hsms().get(1);

    Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    AtomicLong operations = new AtomicLong();
    AtomicBoolean running = new AtomicBoolean(true);
    ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
    List<Future<?>> loops = new ArrayList<>();
    for (int i = 0; i < CLIENTS; i++) {
      loops.add(clients.submit(() -> encryptAndDecryptUntilStopped(crypto, keyId, running, operations, failures)));
    }
    try {
      awaitOperations(operations, 200);
      outages.takeDown(lost.tokenLabel());
      awaitHealth(store, health -> stateOf(health, lost) == ClusterHealth.State.DEGRADED);
      long beforeOutage = operations.get();

      assertThatThrownBy(() -> keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "refused")))
          .isInstanceOfSatisfying(KmsException.class, e -> assertThat(e.type())
              .isEqualTo(KmsErrorType.CloudHsmClusterInvalidConfigurationException))
          .hasMessage("Cluster " + cluster.clusterId() + " needs at least two active HSMs to create keys.");
      awaitOperations(operations, beforeOutage + 2000);
      System.out.printf("%d operations before the outage, %d during it%n", beforeOutage, operations.get() - beforeOutage);

      outages.bringBack(lost.tokenLabel());
      awaitHealth(store, health -> health.state() == ClusterHealth.State.ACTIVE);
      KeyMetadata created = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "after the return"));
      assertThat(created.keyState()).isEqualTo(KeyState.Enabled);
      // Once seen right after CreateKey, a returned HSM was listed without the new key (issue 5 note);
      // the reconciler's next pass must leave it on both HSMs.
      awaitHealth(store, health -> health.state() == ClusterHealth.State.ACTIVE
          && health.hsms().stream().allMatch(hsm -> hsm.keysMissing() == 0));
      assertThat(keys.materialReports().keyMaterialReport(store).missing()).as("on both HSMs").isEmpty();
      awaitOperations(operations, operations.get() + 200);
    } finally {
      running.set(false);
      for (Future<?> loop : loops) {
        loop.get(30, TimeUnit.SECONDS);
      }
      clients.shutdown();
    }
    assertThat(failures).as("failed Encrypt or Decrypt calls").isEmpty();
  }

  @Test
  void withOneOfThreeHsmsLostCreateKeyWorksAndItsKeysReachTheHsmWhenItReturns() throws Exception {
    Cluster cluster = connectThroughOutages(3);
    String store = fixture.connectedStore("three-hsms", cluster);
    KmsKeys keys = startReplication();
    KmsCrypto crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    Hsm lost = cluster.hsms().get(2);

    outages.takeDown(lost.tokenLabel());
    List<String> createdMeanwhile = new ArrayList<>();
    List<byte[]> ciphertexts = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String keyId = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "meanwhile " + i)).keyId();
      createdMeanwhile.add(keyId);
      ciphertexts.add(crypto.encrypt(new EncryptRequest(keyId, new byte[] {(byte) i}, CONTEXT, null)).ciphertextBlob());
    }
    awaitHealth(store, health -> stateOf(health, lost) == ClusterHealth.State.DEGRADED
        && missingOn(health, lost) >= createdMeanwhile.size());
    assertThat(keys.materialReports().keyMaterialReport(store).unreachableHsmIds()).containsExactly(lost.hsmId());

    outages.bringBack(lost.tokenLabel());
    awaitHealth(store, health -> health.state() == ClusterHealth.State.ACTIVE);
    assertThat(keys.materialReports().keyMaterialReport(store).missing()).as("the reconciler copied them in").isEmpty();

    // Only the returned HSM answers now: it decrypts what was encrypted while it was away.
    onlyUp(cluster, lost);
    for (int i = 0; i < createdMeanwhile.size(); i++) {
      assertThat(crypto.decrypt(new DecryptRequest(ciphertexts.get(i), CONTEXT, null, null)).plaintext())
          .containsExactly(i);
    }
  }

  @Test
  void hsmsThatRefuseToGenerateAKeyGetItCopiedFromTheOneThatMadeIt() throws InterruptedException {
    Cluster cluster = connectThroughOutages(3);
    String store = fixture.connectedStore("refusing", cluster);
    KmsKeys keys = fixture.kmsKeys(Clock.systemUTC());
    KmsCrypto crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    // CreateKey asks the HSMs in the cluster's order: the first two refuse, in time, making nothing.
    List<Hsm> refusing = cluster.hsms().subList(0, 2);
    refusing.forEach(hsm -> outages.refuseKeyGeneration(hsm.tokenLabel()));

    String keyId = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "refused twice")).keyId();

    refusing.forEach(hsm -> outages.allowKeyGeneration(hsm.tokenLabel()));
    assertThat(keys.materialReports().keyMaterialReport(store).missing()).as("on all three HSMs").isEmpty();
    byte[] ciphertext = crypto.encrypt(new EncryptRequest(keyId, new byte[] {9}, CONTEXT, null)).ciphertextBlob();
    for (Hsm hsm : refusing) {
      onlyUp(cluster, hsm);
      assertThat(crypto.decrypt(new DecryptRequest(ciphertext, CONTEXT, null, null)).plaintext())
          .as("decrypted on %s, which refused to generate the key", hsm.hsmId()).containsExactly(9);
    }
  }

  @Test
  void encryptOnOneHsmDecryptsOnAnotherForKeysMadeBeforeAndAfterItJoined() throws Exception {
    Cluster cluster = connectThroughOutages(2);
    CustomKeyStores keyStores = fixture.keyStores;
    String store = fixture.connectedStore("joining", cluster);
    String before = fixture.kmsKeys(Clock.systemUTC()).createKey(CreateKeyRequest.inCustomKeyStore(store, "before"))
        .keyId();

    // The operator adds HSM 3: the trust ceremony joins it; its kmsuser password is not the one the
    // store rotated to, so the operator resets kmsuser's password everywhere and tells the store.
    keyStores.disconnectCustomKeyStore(store);
    fixture.stop();
    Cluster grown = fixture.through(fixture.grow(cluster, 3), outages.module());
    Pin password = Pin.random(new SecureRandom(), 16);
    new ClusterProvisioner(softhsm.module())
        .resetKmsuserPin(ClusterId.of(cluster.clusterId()), 3, softhsm.soPin(), password);
    keyStores = fixture.open();
    keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(store, null, password, null));
    keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    KmsKeys keys = fixture.kmsKeys(Clock.systemUTC());
    new KeyReplication(keys, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC()).runOnce();
    String after = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "after")).keyId();
    KmsCrypto crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);

    Hsm first = grown.hsms().get(0);
    Hsm joined = grown.hsms().get(2);
    for (String keyId : List.of(before, after)) {
      onlyUp(grown, first);
      byte[] ciphertext = crypto.encrypt(new EncryptRequest(keyId, new byte[] {4, 2}, CONTEXT, null)).ciphertextBlob();
      onlyUp(grown, joined);
      assertThat(crypto.decrypt(new DecryptRequest(ciphertext, CONTEXT, null, null)).plaintext())
          .as("encrypted on %s, decrypted on the joined %s", first.hsmId(), joined.hsmId()).containsExactly(4, 2);
    }
  }

  /** A new cluster of {@code hsms} reached through the outage shim, and the service opened over it. */
  private Cluster connectThroughOutages(int hsms) {
    Cluster cluster = fixture.through(fixture.newCluster(hsms), outages.module());
    fixture.open();
    return cluster;
  }

  private KmsKeys startReplication() {
    KmsKeys keys = fixture.kmsKeys(Clock.systemUTC());
    replication = new KeyReplication(keys, fixture.keyStores, fixture.connections, fixture.metadata, Clock.systemUTC());
    replication.start(Duration.ofMillis(100));
    return keys;
  }

  private void onlyUp(Cluster cluster, Hsm up) {
    for (Hsm hsm : cluster.hsms()) {
      if (hsm.equals(up)) {
        outages.bringBack(hsm.tokenLabel());
      } else {
        outages.takeDown(hsm.tokenLabel());
      }
    }
  }

  private static void encryptAndDecryptUntilStopped(KmsCrypto crypto, String keyId, AtomicBoolean running,
      AtomicLong operations, Queue<Throwable> failures) {
    byte[] plaintext = new byte[32];
    while (running.get()) {
      try {
        ThreadLocalRandom.current().nextBytes(plaintext);
        byte[] ciphertext = crypto.encrypt(new EncryptRequest(keyId, plaintext, CONTEXT, null)).ciphertextBlob();
        byte[] decrypted = crypto.decrypt(new DecryptRequest(ciphertext, CONTEXT, null, null)).plaintext();
        if (!java.util.Arrays.equals(plaintext, decrypted)) {
          failures.add(new AssertionError("round trip changed the plaintext"));
        }
        operations.addAndGet(2);
      } catch (RuntimeException e) {
        failures.add(e);
      }
    }
  }

  private static void awaitOperations(AtomicLong operations, long atLeast) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (operations.get() < atLeast) {
      assertThat(System.nanoTime()).as("%s operations within 60 s", atLeast).isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  private void awaitHealth(String store, Predicate<ClusterHealth> condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (replication.health(store).filter(condition).isEmpty()) {
      assertThat(System.nanoTime()).as("health reached within 30 s: %s", replication.health(store)).isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  private static ClusterHealth.State stateOf(ClusterHealth health, Hsm hsm) {
    return health.hsms().stream().filter(h -> h.hsmId().equals(hsm.hsmId())).findFirst().orElseThrow().state();
  }

  private static int missingOn(ClusterHealth health, Hsm hsm) {
    return health.hsms().stream().filter(h -> h.hsmId().equals(hsm.hsmId())).findFirst().orElseThrow().keysMissing();
  }
}
