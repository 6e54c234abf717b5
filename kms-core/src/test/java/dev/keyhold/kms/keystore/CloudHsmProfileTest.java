package dev.keyhold.kms.keystore;

import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterInvalidConfigurationException;
import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.kms.key.ClusterHealth;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.DecryptRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.GenerateDataKeyRequest;
import dev.keyhold.kms.key.GenerateDataKeyResponse;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.key.ReEncryptRequest;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.shims.HsmOutages;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A key store over an AWS CloudHSM-profile cluster: the CloudHSM stand-in over two SoftHSM2 tokens,
 * the CloudHSM CLI stand-in as its {@code cloudhsmCli}. Every connect rotates kmsuser's password through
 * the CLI; CreateKey leaves the copying to the cluster; the crypto runs with the HSM's own IV, and on
 * through the loss of one of the cluster's HSMs.
 */
class CloudHsmProfileTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final byte[] PLAINTEXT = "through the stand-in".getBytes(UTF_8);

  @TempDir Path data;
  private KeyStoreFixture fixture;

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void eachConnectRotatesKmsusersPasswordThroughTheCliAndKeysServeAcrossIt() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    KeyStoreFixture.StandInCluster standIn = fixture.newCloudHsmCluster(2);
    Cluster cluster = standIn.cluster();
    fixture.open();
    String store = fixture.connectedStore("cloudhsm", cluster);

    KmsKeys keys = fixture.kmsKeys(Clock.systemUTC());
    KmsCrypto crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    KeyMetadata key = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "cloudhsm"));
    byte[] blob = crypto.encrypt(new EncryptRequest(key.keyId(), PLAINTEXT, Map.of("k", "v"), null)).ciphertextBlob();

    for (String label : standIn.backingTokens()) {
      try (Pkcs11Module softHsm2 = Pkcs11Module.load(SoftHsmClusterExtension.modulePath());
          Token backing = Token.login(softHsm2, label, TokenProfile.SOFTHSM2, fixture.kmsuserPin(),
              SessionPoolConfig.defaults())) {
        List<AesKey> copies = backing.listAesKeys().stream().filter(k -> k.label().equals(key.arn())).toList();
        assertThat(copies).as("the cluster made the key on %s, once; Keyhold copied nothing", label).hasSize(1);
      }
    }

    fixture.keyStores.disconnectCustomKeyStore(store);
    // Logged out now: a login of this process is checked again (a second one would be "already logged in").
    assertThat(logsIn(cluster, fixture)).as("the first password, rotated away by the connect").isFalse();
    fixture.keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(crypto.decrypt(new DecryptRequest(blob, Map.of("k", "v"), null, null)).plaintext())
        .as("a ciphertext from before the second rotation").isEqualTo(PLAINTEXT);
    assertThat(standIn.standIn().failedLogins(KeyStoreConnections.KMSUSER)).isZero();
    assertThat(fixture.kmsuserPin().appearsIn(standIn.standIn().log())).as("a password in the stand-in's log").isFalse();
  }

  @Test
  void aWrongPasswordLocksKmsuserOutAfterFiveConnectsAndAClusterWithNoHsmAnsweringIsANetworkError()
      throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    HsmOutages outages = HsmOutages.create(data.resolve("outages"), SoftHsmClusterExtension.modulePath());
    KeyStoreFixture.StandInCluster standIn = fixture.newCloudHsmCluster(2, outages.module());
    Cluster cluster = standIn.cluster();
    CustomKeyStores keyStores = fixture.open();
    String wrong = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest("wrong-password",
        cluster.clusterId(), cluster.trustAnchor().pem(), Pin.of("not-the-password".toCharArray()), null));

    // The store knows one password: one refused login per connect, and CloudHSM's lock after five.
    for (int attempt = 1; attempt <= 5; attempt++) {
      assertThat(fixture.connectAndFail(wrong)).as("connect %d", attempt).isEqualTo(ConnectionErrorCode.INVALID_CREDENTIALS);
      keyStores.disconnectCustomKeyStore(wrong);
    }
    assertThat(fixture.connectAndFail(wrong)).isEqualTo(ConnectionErrorCode.USER_LOCKED_OUT);
    keyStores.disconnectCustomKeyStore(wrong);
    keyStores.deleteCustomKeyStore(wrong);

    standIn.standIn().setPassword(KeyStoreConnections.KMSUSER, fixture.kmsuserPin().withChars(char[]::clone));
    String store = keyStores.createCustomKeyStore(fixture.createRequest("no-hsm-answers", cluster));
    standIn.backingTokens().forEach(outages::takeDown);
    assertThat(fixture.connectAndFail(store)).isEqualTo(ConnectionErrorCode.NETWORK_ERRORS);
    keyStores.disconnectCustomKeyStore(store);
    standIn.backingTokens().forEach(outages::bringBack);
    keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
  }

  @Test
  void losingABackingHsmMidLoadFailsNoCryptographicCall() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    HsmOutages outages = HsmOutages.create(data.resolve("outages"), SoftHsmClusterExtension.modulePath());
    KeyStoreFixture.StandInCluster standIn = fixture.newCloudHsmCluster(3, outages.module());
    fixture.open();
    String store = fixture.connectedStore("cloudhsm-loss", standIn.cluster());
    KmsKeys keys = fixture.kmsKeys(Clock.systemUTC());
    KmsCrypto crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    String source = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "source")).keyId();
    String destination = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "destination")).keyId();
    Map<String, String> context = Map.of("purpose", "loss");
    AtomicInteger calls = new AtomicInteger();
    AtomicBoolean stop = new AtomicBoolean();

    ExecutorService load = Executors.newFixedThreadPool(4);
    List<Future<?>> workers = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      workers.add(load.submit(() -> {
        while (!stop.get()) {
          byte[] blob = crypto.encrypt(new EncryptRequest(source, PLAINTEXT, context, null)).ciphertextBlob();
          byte[] moved = crypto.reEncrypt(new ReEncryptRequest(blob, context, null, destination, context))
              .ciphertextBlob();
          assertThat(crypto.decrypt(new DecryptRequest(moved, context, null, null)).plaintext()).isEqualTo(PLAINTEXT);
          GenerateDataKeyResponse dataKey =
              crypto.generateDataKey(new GenerateDataKeyRequest(destination, context, "AES_256", null));
          assertThat(crypto.decrypt(new DecryptRequest(dataKey.ciphertextBlob(), context, null, null)).plaintext())
              .isEqualTo(dataKey.plaintext().orElseThrow());
          calls.addAndGet(5);
        }
        return null;
      }));
    }
    Thread.sleep(1_000);
    int beforeLoss = calls.get();
    outages.takeDown(standIn.backingTokens().get(1));
    Thread.sleep(2_000);
    int duringLoss = calls.get() - beforeLoss;
    outages.bringBack(standIn.backingTokens().get(1));
    Thread.sleep(1_000);
    stop.set(true);
    for (Future<?> worker : workers) {
      worker.get(30, TimeUnit.SECONDS); // rethrows the first failed call
    }
    load.shutdown();

    assertThat(beforeLoss).isPositive();
    assertThat(duringLoss).as("calls answered while a backing HSM was down").isPositive();
  }

  @Test
  void aConnectWhileAnotherClientIsLoggedInAsKmsuserFailsUserLoggedInAndLeavesThePasswordAsItWas() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCloudHsmCluster(2).cluster();
    fixture.open();
    String store = fixture.keyStores.createCustomKeyStore(fixture.createRequest("logged-in", cluster));
    Hsm hsm = cluster.hsms().get(0);
    ProcessBuilder holder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
        CloudHsmLoginHolder.class.getName(), hsm.module().toString(), hsm.tokenLabel());
    fixture.kmsuserPin().withChars(chars -> holder.environment().put("KMSUSER_PASSWORD", new String(chars)));
    Process other = holder.redirectErrorStream(true).start();
    try {
      BufferedReader printed = new BufferedReader(new InputStreamReader(other.getInputStream(), UTF_8));
      assertThat(printed.lines().filter(line -> line.equals("logged in")).findFirst()).as("the other client").isPresent();

      assertThat(fixture.connectAndFail(store)).isEqualTo(ConnectionErrorCode.USER_LOGGED_IN);
      fixture.keyStores.disconnectCustomKeyStore(store);
    } finally {
      other.getOutputStream().close();
      other.waitFor(30, TimeUnit.SECONDS);
    }
    fixture.keyStores.connectCustomKeyStore(store);
    assertThat(fixture.awaitSettled(store).connectionState()).as("once the other client logged out")
        .isEqualTo(ConnectionState.CONNECTED);
  }

  /**
   * Keyhold sees a CloudHSM cluster as one slot that answers as long as any HSM behind it does, so
   * CreateKey's rule of two active HSMs and the cluster's health go by the states in the clusters file
   * (which an operator refreshes from {@code aws cloudhsmv2 describe-clusters}): with one of two HSMs
   * DEGRADED there, CreateKey is refused as AWS KMS refuses it while the existing keys still serve, and
   * the health shows that HSM DEGRADED; a DELETED one is left out of the health.
   */
  @Test
  void createKeyAndHealthGoByTheHsmStatesInTheClustersFile() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCloudHsmCluster(2).cluster();
    fixture.open();
    String store = fixture.connectedStore("two-hsms", cluster);
    String first = cluster.hsms().get(0).hsmId();
    String second = cluster.hsms().get(1).hsmId();
    KeyMetadata key = fixture.kmsKeys(Clock.systemUTC()).createKey(CreateKeyRequest.inCustomKeyStore(store, "both"));
    assertHealth(store, ClusterHealth.State.ACTIVE, new ClusterHealth.Hsm(first, ClusterHealth.State.ACTIVE, 0),
        new ClusterHealth.Hsm(second, ClusterHealth.State.ACTIVE, 0));

    for (HsmState state : List.of(HsmState.DEGRADED, HsmState.DELETED)) {
      fixture.withStates(cluster, HsmState.ACTIVE, state);
      KmsKeys oneActive = fixture.kmsKeys(Clock.systemUTC());
      assertError(() -> oneActive.createKey(CreateKeyRequest.inCustomKeyStore(store, "one active")),
          CloudHsmClusterInvalidConfigurationException);
      KmsCrypto crypto = new KmsCrypto(oneActive, fixture.keyStores, fixture.connections);
      assertThat(crypto.encrypt(new EncryptRequest(key.keyId(), PLAINTEXT, Map.of(), null)).ciphertextBlob())
          .as("a key made before serves with one HSM %s", state).isNotEmpty();
    }
    fixture.withStates(cluster, HsmState.ACTIVE, HsmState.DEGRADED);
    assertHealth(store, ClusterHealth.State.DEGRADED, new ClusterHealth.Hsm(first, ClusterHealth.State.ACTIVE, 0),
        new ClusterHealth.Hsm(second, ClusterHealth.State.DEGRADED, 0));
    fixture.withStates(cluster, HsmState.ACTIVE, HsmState.DELETED);
    assertHealth(store, ClusterHealth.State.ACTIVE, new ClusterHealth.Hsm(first, ClusterHealth.State.ACTIVE, 0));

    fixture.withStates(cluster, HsmState.ACTIVE, HsmState.ACTIVE);
    assertThat(fixture.kmsKeys(Clock.systemUTC()).createKey(CreateKeyRequest.inCustomKeyStore(store, "active again"))
        .keyId()).isNotEqualTo(key.keyId());
  }

  /** Checks the store's health as a reconciler pass over the fixture's clusters file finds it. */
  private void assertHealth(String store, ClusterHealth.State state, ClusterHealth.Hsm... hsms) {
    KeyReplication reconciler = new KeyReplication(fixture.kmsKeys(Clock.systemUTC()), fixture.keyStores,
        fixture.connections, fixture.metadata, Clock.systemUTC());
    reconciler.runOnce();
    ClusterHealth health = reconciler.health(store).orElseThrow();
    assertThat(health.state()).isEqualTo(state);
    assertThat(health.hsms()).containsExactly(hsms);
  }

  /** Whether the extension's kmsuser PIN, the store's first password, still logs in to the stand-in. */
  private static boolean logsIn(Cluster cluster, KeyStoreFixture fixture) {
    Hsm hsm = cluster.hsms().get(0);
    try (Pkcs11Module module = Pkcs11Module.load(hsm.module());
        Token token = Token.login(module, hsm.tokenLabel(), TokenProfile.AWS_CLOUDHSM,
            TokenProfile.AWS_CLOUDHSM.loginPin(KeyStoreConnections.KMSUSER, fixture.kmsuserPin()),
            SessionPoolConfig.defaults())) {
      return true;
    } catch (BadCredentialsException refused) {
      return false;
    }
  }
}
