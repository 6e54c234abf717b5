package dev.keyhold.kms.keystore;

import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterInUseException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterInvalidConfigurationException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterNotActiveException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterNotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterNotRelatedException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreHasCMKsException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreNameInUseException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreNotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.IncorrectTrustAnchorException;
import static dev.keyhold.kms.error.KmsErrorType.LimitExceededException;
import static dev.keyhold.kms.error.Validation.enumValue;
import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.pattern;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;
import static dev.keyhold.kms.error.Validation.sensitiveLength;
import static dev.keyhold.kms.error.Validation.text;
import static dev.keyhold.kms.error.Validation.violated;

import com.google.common.io.BaseEncoding;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Clusters;
import dev.keyhold.cluster.TrustAnchor;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Page;
import dev.keyhold.kms.error.Validation.Rule;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.Pin;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The custom key store operations of AWS KMS, for AWS CloudHSM key stores: names, rules, exception
 * types as AWS has them. The HTTP layer exposes exactly these methods.
 *
 * <p>Every change runs in one metadata transaction. Connect and Disconnect hand the work with the HSMs
 * to {@link KeyStoreConnections}; Connect returns at once, as AWS's does.
 */
public final class CustomKeyStores implements AutoCloseable {
  static final String AWS_CLOUDHSM = "AWS_CLOUDHSM";
  /** AWS's quota of custom key stores per account and Region; not adjustable. */
  static final int MAX_KEY_STORES = 10;
  /** CreateKey, and so a store's cluster, needs two active HSMs. */
  static final int MIN_ACTIVE_HSMS = 2;
  private static final Pattern CLUSTER_ID = Pattern.compile("cluster-[2-7a-zA-Z]{11,16}");
  private static final Pattern MARKER = Pattern.compile("[\\u0020-\\u00FF]*");
  private static final int DEFAULT_LIMIT = 1000;
  /**
   * How long a restart waits for the handle indexes of the stores it joins: some 3 s fills a SoftHSM2
   * token of 10,000 keys; longer fills go on in the background.
   */
  private static final Duration INDEX_FILL_WAIT = Duration.ofSeconds(30);

  private final MetadataStore metadata;
  private final Clusters clusters;
  private final MasterKey masterKey;
  private final Clock clock;
  private final KeyStoreConnections connections;
  private final SecureRandom random = new SecureRandom();

  public CustomKeyStores(MetadataStore metadata, Clusters clusters, MasterKey masterKey, Clock clock,
      KeyStoreConnections connections) {
    this.metadata = metadata;
    this.clusters = clusters;
    this.masterKey = masterKey;
    this.clock = clock;
    this.connections = connections;
  }

  /**
   * Logs this node in to the stores that are connected, and reconnects those whose connect a stop
   * interrupted. A CONNECTED store is joined before this returns, with the password it knows and no
   * rotation (other nodes may be serving it), and its HSMs' handle indexes filled (waited for 30 s at
   * most); one that cannot be joined, and one left CONNECTING, is connected again in the background,
   * which shows its outcome (FAILED and why, or CONNECTED).
   */
  public void resume() {
    List<String> joined = new ArrayList<>();
    for (KeyStoreRecord store : metadata.inTransaction(KeyStoreTable::all)) {
      switch (store.state) {
        case CONNECTED -> {
          if (connections.join(store.id)) {
            joined.add(store.id);
          } else {
            setState(store.id, ConnectionState.CONNECTING, null);
            connections.connectInBackground(store.id);
          }
        }
        case CONNECTING -> {
          setState(store.id, ConnectionState.CONNECTING, null);
          connections.connectInBackground(store.id);
        }
        case DISCONNECTING -> setState(store.id, ConnectionState.DISCONNECTED, null);
        default -> { }
      }
    }
    // A restarted node then serves its first calls on any key as fast as its hundredth, instead of
    // sharing the token with the enumeration (seconds at 10,000 keys).
    connections.awaitKeyIndexes(joined, INDEX_FILL_WAIT);
  }

  /** CreateCustomKeyStore: a new DISCONNECTED store for a cluster, or the identical one that exists. */
  public String createCustomKeyStore(CreateCustomKeyStoreRequest request) {
    String name = text(required(request.customKeyStoreName(), "customKeyStoreName"), "customKeyStoreName", 1, 256);
    String type = request.customKeyStoreType() == null ? AWS_CLOUDHSM : request.customKeyStoreType();
    checkType(type);
    String clusterId = checkClusterId(required(request.cloudHsmClusterId(), "cloudHsmClusterId"));
    String trustAnchor = length(required(request.trustAnchorCertificate(), "trustAnchorCertificate"),
        "trustAnchorCertificate", 1, 5000);
    Pin password = checkPassword(request.keyStorePassword());

    Cluster cluster = usableCluster(clusterId);
    if (!cluster.trustAnchor().matchesPem(trustAnchor)) {
      throw new KmsException(IncorrectTrustAnchorException, "The trust anchor certificate in the request is not "
          + "the trust anchor certificate for the specified AWS CloudHSM cluster.");
    }
    return metadata.inTransaction(connection -> {
      Optional<KeyStoreRecord> sameName = KeyStoreTable.byName(connection, name);
      if (sameName.isPresent()) {
        if (isIdenticalDisconnected(sameName.get(), clusterId, cluster.trustAnchor(), password)) {
          return sameName.get().id; // an idempotent retry
        }
        throw new KmsException(CustomKeyStoreNameInUseException,
            "A custom key store with name '" + name + "' already exists.");
      }
      List<KeyStoreRecord> stores = KeyStoreTable.all(connection);
      for (KeyStoreRecord store : stores) {
        if (sharesBackupHistory(store, cluster)) {
          throw new KmsException(CloudHsmClusterInUseException, "Cluster " + clusterId
              + " is already associated with custom key store " + store.id + ", or shares its backup history.");
        }
      }
      if (stores.size() >= MAX_KEY_STORES) {
        throw new KmsException(LimitExceededException,
            "You have reached the limit of " + MAX_KEY_STORES + " custom key stores.");
      }
      String id = newId();
      KeyStoreTable.insert(connection, new KeyStoreRecord(id, name, clusterId, cluster.trustAnchor().pem(),
          ConnectionState.DISCONNECTED, null, clock.instant().truncatedTo(ChronoUnit.MILLIS), 1,
          masterKey.seal(password, id), null));
      return id;
    });
  }

  /** DescribeCustomKeyStores: one store by id or by name, or a page of all. */
  public DescribeCustomKeyStoresResponse describeCustomKeyStores(DescribeCustomKeyStoresRequest request) {
    String id = text(request.customKeyStoreId(), "customKeyStoreId", 1, 64);
    String name = text(request.customKeyStoreName(), "customKeyStoreName", 1, 256);
    int limit = Optional.ofNullable(range(request.limit(), "limit", 1, 1000)).orElse(DEFAULT_LIMIT);
    String marker = pattern(length(request.marker(), "marker", 1, 1024), "marker", MARKER);
    if (id != null && name != null) {
      throw violated(Rule.STORE_ID_AND_NAME);
    }
    return metadata.inTransaction(connection -> {
      if (id != null || name != null) {
        KeyStoreRecord store = (id != null ? KeyStoreTable.byId(connection, id) : KeyStoreTable.byName(connection, name))
            .orElseThrow(() -> notFound(id != null ? id : name));
        return new DescribeCustomKeyStoresResponse(List.of(CustomKeyStoresListEntry.of(store)), Optional.empty(), false);
      }
      Page<KeyStoreRecord> page = Page.of(KeyStoreTable.all(connection), store -> store.id, limit, marker);
      return new DescribeCustomKeyStoresResponse(
          page.items().stream().map(CustomKeyStoresListEntry::of).toList(), page.nextMarker(), page.truncated());
    });
  }

  /**
   * The key store {@code customKeyStoreId}, as DescribeCustomKeyStores shows it.
   *
   * @throws KmsException CustomKeyStoreNotFoundException if there is none
   */
  public CustomKeyStoresListEntry describe(String customKeyStoreId) {
    return describeCustomKeyStores(new DescribeCustomKeyStoresRequest(required(customKeyStoreId, "customKeyStoreId"),
        null, null, null)).customKeyStores().get(0);
  }

  /**
   * The logins of {@code customKeyStoreId}, which must exist and be CONNECTED.
   *
   * @throws KmsException CustomKeyStoreNotFoundException if there is none,
   *     CustomKeyStoreInvalidStateException if it is not CONNECTED
   */
  public ConnectedStore connected(String customKeyStoreId) {
    CustomKeyStoresListEntry store = describe(customKeyStoreId);
    return connections.connected(store.customKeyStoreId()).orElseThrow(() -> new KmsException(
        CustomKeyStoreInvalidStateException, "Custom key store " + customKeyStoreId + " is in connection state "
            + store.connectionState() + "; it needs CONNECTED."));
  }

  /**
   * Waits while the store is CONNECTING, at most {@code timeout}, and returns it as it is then:
   * CONNECTED, FAILED with its error code, or still CONNECTING if the time ran out.
   */
  public CustomKeyStoresListEntry awaitConnected(String customKeyStoreId, Duration timeout)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    CustomKeyStoresListEntry store = describe(customKeyStoreId);
    while (store.connectionState() == ConnectionState.CONNECTING && System.nanoTime() < deadline) {
      Thread.sleep(20);
      store = describe(customKeyStoreId);
    }
    return store;
  }

  /** UpdateCustomKeyStore: a new name (CONNECTED or DISCONNECTED), password or related cluster (DISCONNECTED). */
  public void updateCustomKeyStore(UpdateCustomKeyStoreRequest request) {
    String id = text(required(request.customKeyStoreId(), "customKeyStoreId"), "customKeyStoreId", 1, 64);
    String newName = text(request.newCustomKeyStoreName(), "newCustomKeyStoreName", 1, 256);
    Pin password = request.keyStorePassword() == null ? null : checkPassword(request.keyStorePassword());
    String clusterId = request.cloudHsmClusterId() == null ? null : checkClusterId(request.cloudHsmClusterId());
    metadata.inTransaction(connection -> {
      KeyStoreRecord store = KeyStoreTable.lockById(connection, id).orElseThrow(() -> notFound(id));
      boolean needsDisconnected = password != null || clusterId != null;
      if (needsDisconnected && store.state != ConnectionState.DISCONNECTED) {
        throw invalidState(store, "UpdateCustomKeyStore with a KeyStorePassword or CloudHsmClusterId", "DISCONNECTED");
      }
      if (store.state != ConnectionState.DISCONNECTED && store.state != ConnectionState.CONNECTED) {
        throw invalidState(store, "UpdateCustomKeyStore", "CONNECTED or DISCONNECTED");
      }
      KeyStoreRecord updated = store;
      if (newName != null && !newName.equals(store.name)) {
        if (KeyStoreTable.byName(connection, newName).isPresent()) {
          throw new KmsException(CustomKeyStoreNameInUseException,
              "A custom key store with name '" + newName + "' already exists.");
        }
        updated = updated.withName(newName);
      }
      if (clusterId != null) {
        Cluster cluster = usableCluster(clusterId);
        if (!cluster.trustAnchor().matchesPem(store.trustAnchorCertificate)) {
          throw new KmsException(CloudHsmClusterNotRelatedException, "Cluster " + clusterId
              + " does not share a backup history with cluster " + store.clusterId + " of " + store.id + ".");
        }
        updated = updated.withCluster(clusterId);
      }
      if (password != null) {
        updated = updated.withPassword(masterKey.seal(password, id));
        KeyStoreTable.clearPasswordVersionsOnHsms(connection, id);
      }
      KeyStoreTable.update(connection, updated);
      return null;
    });
  }

  /** ConnectCustomKeyStore: returns at once; the store goes CONNECTING, then CONNECTED or FAILED. */
  public void connectCustomKeyStore(String customKeyStoreId) {
    String id = text(required(customKeyStoreId, "customKeyStoreId"), "customKeyStoreId", 1, 64);
    boolean start = metadata.inTransaction(connection -> {
      KeyStoreRecord store = KeyStoreTable.lockById(connection, id).orElseThrow(() -> notFound(id));
      switch (store.state) {
        case DISCONNECTING, FAILED -> throw invalidState(store, "ConnectCustomKeyStore",
            "CONNECTED, CONNECTING or DISCONNECTED (disconnect a FAILED store first)");
        case CONNECTED, CONNECTING -> {
          return false;
        }
        default -> {
          KeyStoreTable.update(connection, store.withState(ConnectionState.CONNECTING, null));
          connections.changed(connection, id);
          return true;
        }
      }
    });
    if (start) {
      connections.connectInBackground(id);
    }
  }

  /** DisconnectCustomKeyStore: logs out of every HSM; the store's keys become unusable. */
  public void disconnectCustomKeyStore(String customKeyStoreId) {
    String id = text(required(customKeyStoreId, "customKeyStoreId"), "customKeyStoreId", 1, 64);
    metadata.inTransaction(connection -> {
      KeyStoreRecord store = KeyStoreTable.lockById(connection, id).orElseThrow(() -> notFound(id));
      if (store.state == ConnectionState.DISCONNECTED || store.state == ConnectionState.DISCONNECTING) {
        throw invalidState(store, "DisconnectCustomKeyStore", "CONNECTED, CONNECTING or FAILED");
      }
      KeyStoreTable.update(connection, store.withState(ConnectionState.DISCONNECTING, null));
      connections.changed(connection, id);
      return null;
    });
    connections.disconnect(id);
    setState(id, ConnectionState.DISCONNECTED, null);
  }

  /** DeleteCustomKeyStore: only a DISCONNECTED store without KMS keys. The cluster is not touched. */
  public void deleteCustomKeyStore(String customKeyStoreId) {
    String id = text(required(customKeyStoreId, "customKeyStoreId"), "customKeyStoreId", 1, 64);
    metadata.inTransaction(connection -> {
      KeyStoreRecord store = KeyStoreTable.lockById(connection, id).orElseThrow(() -> notFound(id));
      if (store.state != ConnectionState.DISCONNECTED) {
        throw invalidState(store, "DeleteCustomKeyStore", "DISCONNECTED");
      }
      int keys = KeyStoreTable.countKeys(connection, id);
      if (keys > 0) {
        throw new KmsException(CustomKeyStoreHasCMKsException, "Custom key store " + id + " still holds " + keys
            + " KMS key(s); schedule their deletion and wait for it to finish first.");
      }
      KeyStoreTable.delete(connection, id);
      connections.changed(connection, id);
      return null;
    });
  }

  @Override
  public void close() {
    connections.close();
  }

  private void setState(String id, ConnectionState state, ConnectionErrorCode errorCode) {
    metadata.inTransaction(connection -> {
      Optional<KeyStoreRecord> store = KeyStoreTable.lockById(connection, id);
      if (store.isPresent()) {
        KeyStoreTable.update(connection, store.get().withState(state, errorCode));
        connections.changed(connection, id);
      }
      return null;
    });
  }

  private Cluster usableCluster(String clusterId) {
    Cluster cluster = clusters.current().find(clusterId).orElseThrow(() -> new KmsException(CloudHsmClusterNotFoundException,
        "AWS KMS cannot find the AWS CloudHSM cluster with the specified cluster ID " + clusterId + "."));
    int active = cluster.activeHsms().size();
    if (active == 0) {
      throw new KmsException(CloudHsmClusterNotActiveException,
          "Cluster " + clusterId + " has no active HSM.");
    }
    if (active < MIN_ACTIVE_HSMS) {
      throw new KmsException(CloudHsmClusterInvalidConfigurationException, "Cluster " + clusterId + " has "
          + active + " active HSM; a custom key store needs at least " + MIN_ACTIVE_HSMS + ".");
    }
    return cluster;
  }

  private boolean isIdenticalDisconnected(KeyStoreRecord store, String clusterId, TrustAnchor trustAnchor, Pin password) {
    if (store.state != ConnectionState.DISCONNECTED || !store.clusterId.equals(clusterId)
        || !trustAnchor.matchesPem(store.trustAnchorCertificate)) {
      return false;
    }
    Pin known = masterKey.open(store.pendingPassword != null ? store.pendingPassword : store.password, store.id);
    return known.sameAs(password);
  }

  private boolean sharesBackupHistory(KeyStoreRecord store, Cluster cluster) {
    return store.clusterId.equals(cluster.clusterId()) || cluster.trustAnchor().matchesPem(store.trustAnchorCertificate);
  }

  private String newId() {
    byte[] bytes = new byte[9];
    random.nextBytes(bytes);
    return "cks-" + BaseEncoding.base16().lowerCase().encode(bytes).substring(0, 17);
  }

  private static void checkType(String type) {
    if (enumValue(CustomKeyStoreType.class, type, "customKeyStoreType") == CustomKeyStoreType.EXTERNAL_KEY_STORE) {
      throw new KmsException(KmsErrorType.UnsupportedOperationException,
          "Keyhold supports AWS_CLOUDHSM custom key stores only.");
    }
  }

  private static String checkClusterId(String clusterId) {
    return pattern(length(clusterId, "cloudHsmClusterId", 19, 24), "cloudHsmClusterId", CLUSTER_ID);
  }

  private static Pin checkPassword(Pin password) {
    sensitiveLength(required(password, "keyStorePassword").length(), "keyStorePassword", 7, 32);
    return password;
  }


  private static KmsException notFound(String idOrName) {
    return new KmsException(CustomKeyStoreNotFoundException,
        "Custom key store '" + idOrName + "' does not exist in this account and Region.");
  }

  private static KmsException invalidState(KeyStoreRecord store, String operation, String allowed) {
    return new KmsException(CustomKeyStoreInvalidStateException, operation + " is not allowed for custom key store "
        + store.id + " in connection state " + store.state + "; it needs " + allowed + ".");
  }
}
