package dev.keyhold.bench;

import static com.google.common.base.Preconditions.checkState;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.kms.secret.SealedSecret;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * A connected custom key store over a local SoftHSM2 cluster provisioned for one benchmark trial
 * (tokens, trust anchor and trust ceremony, master key and, unless another metadata store is given,
 * H2 metadata in a fresh directory beside {@code SOFTHSM2_CONF}), with the KMS key and crypto
 * operations over it: the setup of {@link KmsCryptoBenchmark}, shared by the replication benchmarks
 * and {@link MetadataStoreBenchmark}.
 *
 * <p>Every PKCS#11 call of the trial goes through the one library given to {@link #open}: the
 * provisioner records its path as each HSM's module, so the key store's connection loads the same
 * {@link Pkcs11Module} (shared and counted per path) rather than a second library in the process.
 */
final class BenchKeyStore implements AutoCloseable {
  /** The real SoftHSM2 library, or {@code -Dkeyhold.bench.module} ({@code MODULE} in {@code run-jmh}). */
  static final Path REAL_LIBRARY =
      Path.of(System.getProperty("keyhold.bench.module", "/usr/lib/softhsm/libsofthsm2.so"));

  private static final Duration CONNECT_TIMEOUT = Duration.ofMinutes(1);
  private static final Account ACCOUNT = new Account("111122223333", "us-east-1");
  /** The HSM user that a key store logs in as. */
  private static final String KMSUSER = "kmsuser";

  final Path dataDirectory;
  final Pkcs11Module module;
  final Cluster cluster;
  final MetadataStore metadata;
  final Keyhold keyhold;
  final KmsKeys keys;
  final KmsCrypto crypto;
  final String storeId;
  private final MasterKey masterKey;

  private BenchKeyStore(Path dataDirectory, Pkcs11Module module, Cluster cluster, MetadataStore metadata,
      MasterKey masterKey, Keyhold keyhold, String storeId) {
    this.dataDirectory = dataDirectory;
    this.module = module;
    this.cluster = cluster;
    this.metadata = metadata;
    this.masterKey = masterKey;
    this.keyhold = keyhold;
    this.keys = keyhold.keys();
    this.crypto = keyhold.crypto();
    this.storeId = storeId;
  }

  /** A fresh data directory under the SoftHSM2 directory named by {@code SOFTHSM2_CONF}. */
  static Path newDataDirectory() throws IOException {
    String config = System.getenv(SoftHsmDirectory.CONFIG_VARIABLE);
    if (config == null) {
      throw new IllegalStateException(SoftHsmDirectory.CONFIG_VARIABLE
          + " is unset: run through benchmarks/run-jmh, or export it naming a throwaway directory's softhsm2.conf");
    }
    Path softhsm = Path.of(config).toAbsolutePath().getParent();
    SoftHsmDirectory.at(softhsm).create();
    return Files.createTempDirectory(softhsm, "data-");
  }

  /**
   * Provisions a cluster of {@code hsms} tokens through {@code library}, creates a key store over it
   * and connects it, with the metadata in an H2 database in {@code dataDirectory}.
   */
  static BenchKeyStore open(Path dataDirectory, Path library, int hsms) throws InterruptedException {
    return open(dataDirectory, library, hsms, JdbcMetadataStore.embedded(dataDirectory));
  }

  /**
   * As {@link #open(Path, Path, int)}, with the metadata in {@code metadata}, which must hold no key
   * store yet; it is closed with the returned store.
   */
  static BenchKeyStore open(Path dataDirectory, Path library, int hsms, MetadataStore metadata)
      throws InterruptedException {
    SecureRandom random = new SecureRandom();
    Pin kmsuserPin = Pin.random(random, 16);
    Pkcs11Module module = Pkcs11Module.load(library);
    Cluster cluster = new LocalClusterProvisioner(module, dataDirectory.resolve(LocalClusterProvisioner.CLUSTERS_FILE))
        .provision(ClusterId.random(random), hsms, Optional.empty(), Pin.random(random, 16), kmsuserPin).cluster();
    ClusterRegistry registry = ClusterRegistry.of(List.of(cluster));
    MasterKey masterKey = MasterKey.loadOrCreate(dataDirectory.resolve("master.key"));
    Keyhold keyhold = Keyhold.open(metadata, registry, masterKey, Keyhold.Options.of(ACCOUNT));
    String store = keyhold.keyStores().createCustomKeyStore(new CreateCustomKeyStoreRequest(
        "bench", cluster.clusterId(), cluster.trustAnchor().pem(), kmsuserPin, null));
    keyhold.keyStores().connectCustomKeyStore(store);
    BenchKeyStore opened = new BenchKeyStore(dataDirectory, module, cluster, metadata, masterKey, keyhold, store);
    opened.awaitConnected();
    return opened;
  }

  /**
   * The service restarted on the same data: closes this store's Keyhold, its metadata store and its
   * share of the library (the last share calls {@code C_Finalize}, so SoftHSM2 reads its token files
   * again, as in a new process), then loads the library again, opens the metadata with
   * {@code metadataIn} (given the data directory) and a Keyhold on it with the same cluster and master
   * key, which resumes the key store; returns once the store is CONNECTED on every HSM. This store is
   * not to be used or closed afterwards.
   *
   * <p>The metadata store is reopened rather than kept because a closed Keyhold stays subscribed to
   * the one it was given: its listeners would hear the new one's changes and fail on its closed workers.
   */
  Restarted restart(Function<Path, MetadataStore> metadataIn) throws InterruptedException {
    close();
    long start = System.nanoTime();
    Pkcs11Module reloaded = Pkcs11Module.load(module.library());
    MetadataStore reopenedMetadata = metadataIn.apply(dataDirectory);
    Keyhold reopened = Keyhold.open(reopenedMetadata, ClusterRegistry.of(List.of(cluster)), masterKey,
        Keyhold.Options.of(ACCOUNT));
    BenchKeyStore restarted =
        new BenchKeyStore(dataDirectory, reloaded, cluster, reopenedMetadata, masterKey, reopened, storeId);
    restarted.awaitConnected();
    return new Restarted(restarted, Duration.ofNanos(System.nanoTime() - start));
  }

  /**
   * A restarted store.
   *
   * @param connecting from loading the library and opening the metadata again until the store was CONNECTED
   */
  record Restarted(BenchKeyStore store, Duration connecting) {}

  /** Waits until the store is CONNECTED with every HSM of its cluster logged in and replicating. */
  void awaitConnected() throws InterruptedException {
    ConnectionState state = keyhold.keyStores().awaitConnected(storeId, CONNECT_TIMEOUT).connectionState();
    if (state != ConnectionState.CONNECTED) {
      throw new IllegalStateException("key store " + storeId + " is " + state + ", not CONNECTED");
    }
    int hsms = cluster.hsms().size();
    int serving = logins().hsms().size();
    if (serving != hsms || !logins().replicatesKeys()) {
      throw new IllegalStateException("key store " + storeId + " serves " + serving + " HSMs (replicating: "
          + logins().replicatesKeys() + "); expected " + hsms + " replicating HSMs");
    }
  }

  /**
   * The PIN that logs in to the store's HSMs now, as {@code C_Login} takes it: kmsuser's password,
   * which every connect rotates, opened from the store's metadata with the master key. For a
   * benchmark's own client of the same tokens; the service never hands it out.
   */
  Pin loginPin() {
    SealedSecret sealed = metadata.inTransaction(connection -> {
      try (PreparedStatement select =
          connection.prepareStatement("SELECT sealed_password FROM custom_key_stores WHERE id = ?")) {
        select.setString(1, storeId);
        try (ResultSet row = select.executeQuery()) {
          checkState(row.next(), "no key store %s in the metadata", storeId);
          return SealedSecret.fromBase64(row.getString(1));
        }
      }
    });
    Token token = logins().tokens().values().iterator().next();
    return token.profile().loginPin(KMSUSER, masterKey.open(sealed, storeId));
  }

  /** The store's logins: one per HSM, in the cluster's order, with whether the KMS layer finds it lost. */
  ConnectedStore logins() {
    return keyhold.connections().connected(storeId).orElseThrow(() -> new IllegalStateException(storeId + " is not connected"));
  }

  @Override
  public void close() {
    keyhold.close();
    metadata.close();
    module.close();
  }
}
