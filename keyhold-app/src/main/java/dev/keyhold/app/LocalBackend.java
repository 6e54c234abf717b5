package dev.keyhold.app;

import static com.google.common.base.Preconditions.checkState;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.ClusterFileWatcher;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.CustomKeyStoresListEntry;
import dev.keyhold.kms.keystore.DescribeCustomKeyStoresRequest;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.policy.AccountPrincipal;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Optional;

/**
 * The embedded default Keyhold: everything under one home directory ({@code ~/.keyhold} unless told
 * otherwise). On the first start it provisions a local 2-HSM SoftHSM2 cluster (tokens, trust anchor,
 * trust ceremony) and a key store named {@value #STORE_NAME} over it; on every start it opens the
 * embedded metadata store, connects that key store and makes it the default one, so that CreateKey
 * without a CustomKeyStoreId lands in it, as with AWS KMS. Then it keeps the cluster healthy
 * (replication) and deletes keys whose waiting period ended.
 *
 * <p>The SO PIN is drawn for the ceremony and then forgotten; the kmsuser password goes only to the
 * key store, which seals it and rotates it at every connect. Neither is ever written in clear.
 */
public final class LocalBackend implements AutoCloseable {
  /** The master key, in the home: it seals the kmsuser password and the credentials, and keys the audit log. */
  public static final String MASTER_KEY = "data/master.key";
  static final String STORE_NAME = "local";
  /**
   * The embedded default's one deliberate departure from AWS: a key policy statement that names the
   * account lets every caller of it in, as the default key policy then lets every credential of the
   * home use every key, without identity policies to write (docs/service.md). Operator mode delegates
   * to identity policies, as AWS.
   */
  static final AccountPrincipal ACCOUNT_PRINCIPAL = AccountPrincipal.MEANS_EVERY_CALLER;
  private static final Duration REPLICATION_INTERVAL = Duration.ofSeconds(5);
  private static final Duration DELETION_INTERVAL = Duration.ofMinutes(1);
  private static final Duration CONNECT_TIMEOUT = Duration.ofMinutes(5);
  /** How often the clusters file is checked: a cluster provisioned meanwhile is seen without a restart. */
  private static final Duration CLUSTERS_FILE_CHECKED_EVERY = Duration.ofSeconds(1);

  private final ClusterFileWatcher clusters;
  private final Keyhold keyhold;
  private final Pkcs11Module module;
  private final JdbcMetadataStore metadata;

  private LocalBackend(ClusterFileWatcher clusters, Keyhold keyhold, Pkcs11Module module, JdbcMetadataStore metadata) {
    this.clusters = clusters;
    this.keyhold = keyhold;
    this.module = module;
    this.metadata = metadata;
  }

  /**
   * Opens (and on the first run provisions) the Keyhold in {@code home}, telling {@code progress} what
   * it does. SoftHSM2 reads its configuration once per process from {@code SOFTHSM2_CONF}, which must
   * name {@code home/softhsm/softhsm2.conf} (bin/keyhold sets it).
   */
  public static LocalBackend open(Path home, Path softHsmLibrary, Account account, PrintStream progress)
      throws InterruptedException {
    SoftHsmDirectory softhsm = SoftHsmDirectory.at(home.resolve("softhsm"));
    softhsm.create();
    softhsm.checkActiveInThisProcess();
    Path clustersFile = home.resolve(LocalClusterProvisioner.CLUSTERS_FILE);
    SecureRandom random = new SecureRandom();
    Pkcs11Module module = Pkcs11Module.load(softHsmLibrary);
    progress.println("SoftHSM2's AES-GCM and random calls go through the " + module.callPath());
    ClusterFileWatcher clusters = null;
    JdbcMetadataStore metadata = null;
    Keyhold keyhold = null;
    try {
      Optional<Pin> newKmsuserPassword = Optional.empty();
      if (!Files.exists(clustersFile) || ClusterFile.read(clustersFile).all().isEmpty()) {
        progress.println("provisioning a local cluster of 2 SoftHSM2 HSMs in " + softhsm.root() + " ...");
        Pin kmsuserPassword = Pin.random(random, 24);
        Cluster cluster = new LocalClusterProvisioner(module, clustersFile)
            .provision(ClusterId.random(random), 2, Optional.empty(), Pin.random(random, 24), kmsuserPassword)
            .cluster();
        progress.println("  cluster " + cluster.clusterId() + ": HSMs, trust anchor and trusted wrapping key ready");
        newKmsuserPassword = Optional.of(kmsuserPassword);
      }
      clusters = ClusterFileWatcher.watch(clustersFile, CLUSTERS_FILE_CHECKED_EVERY);
      Cluster cluster = clusters.current().all().get(0);

      Path data = home.resolve("data");
      metadata = JdbcMetadataStore.embedded(data);
      MasterKey masterKey = MasterKey.loadOrCreate(home.resolve(MASTER_KEY));
      keyhold = Keyhold.open(metadata, clusters, masterKey, Keyhold.Options.of(account).withDefaultKeyStore(STORE_NAME)
          .withAccountPrincipal(ACCOUNT_PRINCIPAL));
      localStore(keyhold.keyStores(), cluster, newKmsuserPassword, progress);
      keyhold.startBackgroundWork(REPLICATION_INTERVAL, DELETION_INTERVAL);
      return new LocalBackend(clusters, keyhold, module, metadata);
    } catch (RuntimeException | InterruptedException e) {
      if (keyhold != null) {
        keyhold.close();
      }
      if (metadata != null) {
        metadata.close();
      }
      if (clusters != null) {
        clusters.close();
      }
      module.close();
      throw e;
    }
  }

  public Keyhold keyhold() {
    return keyhold;
  }

  /** Stops the background work, logs out of the HSMs and closes the metadata store. */
  @Override
  public void close() {
    keyhold.close();
    metadata.close();
    module.close();
    clusters.close();
  }

  /** Creates the key store {@value #STORE_NAME} on the first run, and connects it. */
  private static void localStore(CustomKeyStores keyStores, Cluster cluster, Optional<Pin> newKmsuserPassword,
      PrintStream progress) throws InterruptedException {
    Optional<CustomKeyStoresListEntry> existing = keyStores.describeCustomKeyStores(DescribeCustomKeyStoresRequest.all())
        .customKeyStores().stream().filter(store -> store.customKeyStoreName().equals(STORE_NAME)).findFirst();
    String storeId;
    if (existing.isPresent()) {
      storeId = existing.get().customKeyStoreId();
    } else {
      checkState(newKmsuserPassword.isPresent(), "the clusters file exists but the key store '%s' does not: "
          + "remove the home directory to start afresh", STORE_NAME);
      storeId = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest(STORE_NAME, cluster.clusterId(),
          cluster.trustAnchor().pem(), newKmsuserPassword.get(), null));
      progress.println("  key store " + storeId + " created for " + cluster.clusterId());
    }
    ConnectionState state = keyStores.describe(storeId).connectionState();
    // The one node of the embedded default connects its store anew at every start, so that kmsuser's
    // password is rotated then, as at every ConnectCustomKeyStore (a node of several joins instead).
    if (state == ConnectionState.FAILED || state == ConnectionState.CONNECTED) {
      keyStores.disconnectCustomKeyStore(storeId);
    }
    if (keyStores.describe(storeId).connectionState() == ConnectionState.DISCONNECTED) {
      keyStores.connectCustomKeyStore(storeId);
    }
    progress.println("connecting key store " + storeId + " (kmsuser logs in to every HSM) ...");
    CustomKeyStoresListEntry store = keyStores.awaitConnected(storeId, CONNECT_TIMEOUT);
    checkState(store.connectionState() == ConnectionState.CONNECTED, "key store %s did not connect: %s", storeId,
        store.connectionErrorCode().map(Object::toString).orElse("no error code"));
    progress.println("  key store " + storeId + " CONNECTED; it is the default key store");
  }
}
