package dev.keyhold.kms.keystore;

import com.google.common.collect.ImmutableList;
import dev.keyhold.cluster.CloudHsmCliConfig;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.TestMetadata;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.shims.CloudHsmCliStandIn;
import dev.keyhold.shims.CloudHsmStandIn;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.concurrent.TimeUnit;

/**
 * Builds what the key store tests need from real parts: SoftHSM2 clusters provisioned in the test
 * class's token directory, a clusters registry naming them, an H2 metadata store and a master key in
 * a data directory, and the facade over them.
 */
public final class KeyStoreFixture implements AutoCloseable {
  public static final Account ACCOUNT = new Account("111122223333", "us-east-1");

  /** Whether this run's clusters are AWS CloudHSM ones, through the stand-in. */
  public static final boolean ON_CLOUDHSM = "cloudhsm".equals(System.getProperty("keyhold.test.clusters"));

  /** How the directory of a CloudHSM stand-in's state, in the data directory, begins. */
  public static final String STAND_IN_PREFIX = "standin-";

  public final SoftHsmClusterExtension softhsm;
  public final Path dataDirectory;
  private final SecureRandom random = new SecureRandom();
  private final List<AutoCloseable> opened = new ArrayList<>();
  private final Function<Path, JdbcMetadataStore> metadataOpener;
  public ClusterRegistry registry = ClusterRegistry.empty();
  public MetadataStore metadata;
  public KeyStoreConnections connections;
  public CustomKeyStores keyStores;
  /** The session pools (and call deadline) of the next {@link #open}. */
  public SessionPoolConfig sessions = SessionPoolConfig.of(2, Duration.ofSeconds(5));

  public KeyStoreFixture(SoftHsmClusterExtension softhsm, Path dataDirectory) {
    this(softhsm, dataDirectory, TestMetadata::open);
  }

  private KeyStoreFixture(SoftHsmClusterExtension softhsm, Path dataDirectory,
      Function<Path, JdbcMetadataStore> metadataOpener) {
    this.softhsm = softhsm;
    this.dataDirectory = dataDirectory;
    this.metadataOpener = metadataOpener;
  }

  /** A fixture whose metadata is in PostgreSQL whatever the build chose, for tests of several nodes. */
  public static KeyStoreFixture onPostgresql(SoftHsmClusterExtension softhsm, Path dataDirectory) {
    return new KeyStoreFixture(softhsm, dataDirectory, TestMetadata::openOnPostgresql);
  }

  /**
   * Provisions {@code hsms} fresh tokens, kmsuser PIN = the extension's, as a new cluster with a new CA:
   * SoftHSM2 tokens as they are, or, when the build runs the tests against the CloudHSM stand-in
   * ({@code -Dkeyhold.test.clusters=cloudhsm}), behind it ({@link #newCloudHsmCluster}).
   */
  public Cluster newCluster(int hsms) {
    if (ON_CLOUDHSM) {
      return newCloudHsmCluster(hsms).cluster();
    }
    return add(provision(ClusterId.random(random), hsms, Optional.empty()));
  }

  /** A new cluster "restored from a backup" of {@code original}: fresh tokens, the same CA. */
  public Cluster restoredFrom(Cluster original, int hsms) {
    return add(provision(ClusterId.random(random), hsms, Optional.of(ClusterId.of(original.clusterId()))));
  }

  /** {@code cluster} with its HSMs in {@code states}, replacing it in the registry. */
  public Cluster withStates(Cluster cluster, HsmState... states) {
    ImmutableList.Builder<Hsm> hsms = ImmutableList.builder();
    for (int i = 0; i < cluster.hsms().size(); i++) {
      Hsm hsm = cluster.hsms().get(i);
      hsms.add(Hsm.of(hsm.hsmId(), hsm.module(), hsm.tokenLabel(), hsm.profile(), states[i]));
    }
    return add(withHsms(cluster, hsms.build()));
  }

  /** {@code cluster} with one HSM's library or label replaced, as a broken configuration would be. */
  public Cluster withHsm(Cluster cluster, int index, Hsm replacement) {
    List<Hsm> hsms = new ArrayList<>(cluster.hsms());
    hsms.set(index, replacement);
    return add(withHsms(cluster, hsms));
  }

  /** {@code cluster} with every HSM reached through {@code module}, e.g. a fault-injecting shim. */
  public Cluster through(Cluster cluster, Path module) {
    return add(withHsms(cluster, cluster.hsms().stream()
        .map(hsm -> Hsm.of(hsm.hsmId(), module, hsm.tokenLabel(), hsm.profile(), hsm.state())).toList()));
  }

  /** {@code cluster} with {@code hsms}; a CloudHSM cluster keeps its CLI, which rotates kmsuser's password. */
  private static Cluster withHsms(Cluster cluster, List<Hsm> hsms) {
    Cluster changed = Cluster.of(cluster.clusterId(), hsms, cluster.trustAnchor());
    return cluster.cloudHsmCli().map(changed::withCloudHsmCli).orElse(changed);
  }

  /**
   * A new cluster of {@code hsms} fresh tokens behind the CloudHSM stand-in, as Keyhold sees an AWS
   * CloudHSM cluster: every HSM names the stand-in's one slot with the AWS_CLOUDHSM profile, kmsuser's
   * password (at first the extension's kmsuser PIN, which also opens the backing tokens) lives in the
   * stand-in's users, and the CloudHSM CLI stand-in is the cluster's {@code cloudhsmCli}. The clusters
   * file in the data directory names it too, for service processes started on the directory.
   */
  public StandInCluster newCloudHsmCluster(int hsms) {
    return newCloudHsmCluster(hsms, SoftHsmClusterExtension.modulePath());
  }

  /** As {@link #newCloudHsmCluster(int)}, the stand-in reaching its tokens through {@code backingModule} (an outage shim). */
  public StandInCluster newCloudHsmCluster(int hsms, Path backingModule) {
    Cluster tokens = provision(ClusterId.random(random), hsms, Optional.empty());
    Path directory = dataDirectory.resolve(STAND_IN_PREFIX + tokens.clusterId());
    String slot = "standin/" + tokens.clusterId();
    CloudHsmStandIn standIn = kmsuserPin().withChars(pin -> CloudHsmStandIn.builder(directory,
        backingModule).slotLabel(slot).hsms(tokens.hsms().stream().map(Hsm::tokenLabel).toList())
        .hsmPin(pin).user(KeyStoreConnections.KMSUSER, pin).build());
    Path cli = CloudHsmCliStandIn.install(standIn, slot, directory);
    Cluster cluster = add(Cluster.of(tokens.clusterId(), tokens.hsms().stream()
        .map(hsm -> Hsm.of(hsm.hsmId(), standIn.module(), slot, TokenProfile.AWS_CLOUDHSM, hsm.state())).toList(),
        tokens.trustAnchor()).withCloudHsmCli(new CloudHsmCliConfig(cli, false)));
    ClusterFile.write(dataDirectory.resolve("clusters.json"), registry);
    return new StandInCluster(cluster, standIn, tokens.hsms().stream().map(Hsm::tokenLabel).toList());
  }

  /**
   * A cluster served through the CloudHSM stand-in, the stand-in (for what only it can tell), and the
   * labels of the SoftHSM2 tokens behind it.
   */
  public record StandInCluster(Cluster cluster, CloudHsmStandIn standIn, List<String> backingTokens) {}

  /** Provisions HSMs up to {@code hsms} in {@code cluster} (the trust ceremony joins the new ones). */
  public Cluster grow(Cluster cluster, int hsms) {
    return add(provision(ClusterId.of(cluster.clusterId()), hsms, Optional.empty()));
  }

  public Cluster add(Cluster cluster) {
    registry = registry.with(cluster);
    return cluster;
  }

  /** Opens (or reopens, as after a restart) the service's key store layer over the data directory. */
  public CustomKeyStores open() {
    return open(Checkpoints.NONE);
  }

  public CustomKeyStores open(Checkpoints checkpoints) {
    if (keyStores != null) {
      stop();
    }
    metadata = metadataOpener.apply(dataDirectory);
    MasterKey masterKey = MasterKey.loadOrCreate(dataDirectory.resolve("master.key"));
    connections = new KeyStoreConnections(metadata, registry, masterKey, sessions, checkpoints);
    keyStores = new CustomKeyStores(metadata, registry, masterKey, Clock.systemUTC(), connections);
    opened.add(metadata);
    opened.add(keyStores);
    return keyStores;
  }

  /** Stops the service's key store layer, as a shutdown would. */
  public void stop() {
    keyStores.close();
    metadata.close();
    opened.clear();
    keyStores = null;
  }

  public CreateCustomKeyStoreRequest createRequest(String name, Cluster cluster) {
    return new CreateCustomKeyStoreRequest(name, cluster.clusterId(), cluster.trustAnchor().pem(),
        softhsm.kmsuserPin(), null);
  }

  public CustomKeyStoresListEntry describe(String id) {
    return keyStores.describe(id);
  }

  /** Waits until the store leaves CONNECTING. */
  public CustomKeyStoresListEntry awaitSettled(String id) throws InterruptedException {
    return keyStores.awaitConnected(id, Duration.ofSeconds(30));
  }

  /** Creates a key store named {@code name} for {@code cluster} and connects it. */
  public String connectedStore(String name, Cluster cluster) throws InterruptedException {
    String id = keyStores.createCustomKeyStore(createRequest(name, cluster));
    keyStores.connectCustomKeyStore(id);
    if (awaitSettled(id).connectionState() != ConnectionState.CONNECTED) {
      throw new AssertionError("key store " + name + " did not connect");
    }
    return id;
  }

  /** The KMS key operations over this fixture's stores, with {@code clock}. */
  public KmsKeys kmsKeys(Clock clock) {
    return new KmsKeys(metadata, registry, keyStores, connections, ACCOUNT, clock);
  }

  /** The KMS key operations over this fixture's stores, as run by {@code node}, telling {@code checkpoints}. */
  public KmsKeys kmsKeys(ServiceNode node, Checkpoints checkpoints) {
    return new KmsKeys(metadata, registry, keyStores, connections, ACCOUNT, Clock.systemUTC(), Optional.empty(), node,
        checkpoints);
  }

  /** Runs {@code main} in a fresh JVM, as a restarted service would be; returns its exit code. */
  public static int runInFreshJvm(Class<?> main, String... args) throws IOException, InterruptedException {
    // A child lives a few seconds: C1 alone and the serial collector start it faster and leave the
    // other core to the test JVMs running beside it.
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), main.getName()));
    command.addAll(List.of(args));
    Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!child.waitFor(120, TimeUnit.SECONDS)) {
      child.destroyForcibly();
      throw new AssertionError(main.getSimpleName() + " did not finish: " + output);
    }
    System.out.println(main.getSimpleName() + " " + String.join(" ", args) + " ->\n" + output);
    return child.exitValue();
  }

  /** Connects and waits; the store must end FAILED, and its error code is returned. */
  public ConnectionErrorCode connectAndFail(String id) throws InterruptedException {
    keyStores.connectCustomKeyStore(id);
    CustomKeyStoresListEntry entry = awaitSettled(id);
    if (entry.connectionState() != ConnectionState.FAILED) {
      throw new AssertionError("expected FAILED, got " + entry.connectionState());
    }
    return entry.connectionErrorCode().orElseThrow();
  }

  public Pin kmsuserPin() {
    return softhsm.kmsuserPin();
  }

  private Cluster provision(ClusterId id, int hsms, Optional<ClusterId> fromBackupOf) {
    return new LocalClusterProvisioner(softhsm.module(), dataDirectory.resolve("clusters.json"))
        .provision(id, hsms, fromBackupOf, softhsm.soPin(), softhsm.kmsuserPin())
        .cluster();
  }

  @Override
  public void close() throws Exception {
    for (AutoCloseable closeable : opened) {
      closeable.close();
    }
  }
}
