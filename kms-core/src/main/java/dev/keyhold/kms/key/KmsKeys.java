package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterInvalidConfigurationException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInternalException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.NotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.UnsupportedOperationException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Page;
import dev.keyhold.kms.keystore.Checkpoints;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.CustomKeyStoresListEntry;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.keystore.ServingHsm;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.DeviceLostException;
import dev.keyhold.pkcs11.ObjectNotFoundException;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Token;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * KMS keys in CloudHSM key stores and their lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey,
 * DisableKey, UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion, with AWS's names, members,
 * state rules and exceptions. Time comes from the injected clock.
 *
 * <p>CreateKey records its intent (state {@link KeyState#Creating}) before it generates the key
 * material, labelled with the key ARN and identified by the key id's 16 bytes, in the store's cluster;
 * so a crash between the two leaves a visible record, never material that no KMS key owns. The record
 * carries a lease ({@link CreateKeyLeases}) that the running CreateKey renews before each step; the
 * crash rollback takes only records whose lease has ended, on this node or any other.
 *
 * <p>The database is the one source of truth. Every change is decided on the key's row as it is now,
 * locked in the changing transaction, never on the cached copy; the cache only spares the hot path a
 * read, and a key the database no longer has is forgotten and answers NotFoundException.
 */
public final class KmsKeys {
  private static final String AWS_CLOUDHSM = "AWS_CLOUDHSM";
  private static final String AWS_KMS = "AWS_KMS";
  private static final String SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT";
  private static final String ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT";
  private static final Pattern KEY_ID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  private static final int DEFAULT_LIST_LIMIT = 100;
  /** The HSM of a deletion whose cluster is not in the clusters file. */
  private static final String NO_HSM = "-";
  private static final Logger LOG = LoggerFactory.getLogger(KmsKeys.class);

  private final MetadataStore metadata;
  private final ClusterRegistry clusters;
  private final CustomKeyStores keyStores;
  private final KeyStoreConnections connections;
  private final Account account;
  private final Clock clock;
  private final Optional<String> defaultKeyStoreId;
  private final Checkpoints checkpoints;
  private final KeyAliases aliases;
  private final KeyTags tags;
  private final KeyPolicies policies;
  private final CreateKeyLeases leases;
  /** Finished keys this process has read, for the hot path; {@link #forget} drops one after any change. */
  private final Map<String, KeyRecord> cache = new ConcurrentHashMap<>();
  /** Counts {@link #forget}s, so that a read that raced one does not keep what it read. */
  private final AtomicLong forgets = new AtomicLong();

  public KmsKeys(MetadataStore metadata, ClusterRegistry clusters, CustomKeyStores keyStores,
      KeyStoreConnections connections, Account account, Clock clock) {
    this(metadata, clusters, keyStores, connections, account, clock, Optional.empty());
  }

  /**
   * @param defaultKeyStoreId where CreateKey puts keys when the request names no key store; such keys
   *     report Origin AWS_KMS, so clients that never heard of custom key stores work unchanged
   */
  public KmsKeys(MetadataStore metadata, ClusterRegistry clusters, CustomKeyStores keyStores,
      KeyStoreConnections connections, Account account, Clock clock, Optional<String> defaultKeyStoreId) {
    this(metadata, clusters, keyStores, connections, account, clock, defaultKeyStoreId, ServiceNode.LOCAL,
        Checkpoints.NONE);
  }

  /**
   * Revokes the CreateKey leases that {@code node}'s earlier runs left (see {@link ServiceNode}).
   *
   * @param node this process as a node of the service, whose runs hold the leases of its CreateKeys
   * @param checkpoints told each durable step of a CreateKey ({@code intent-recorded},
   *     {@code material-generated}, {@code replicated-to <hsm>}, {@code enabling}, {@code enabled}) and
   *     of a rollback pass ({@code rollback-listed}, once its candidates are read)
   */
  public KmsKeys(MetadataStore metadata, ClusterRegistry clusters, CustomKeyStores keyStores,
      KeyStoreConnections connections, Account account, Clock clock, Optional<String> defaultKeyStoreId,
      ServiceNode node, Checkpoints checkpoints) {
    this.checkpoints = checkpoints;
    this.defaultKeyStoreId = defaultKeyStoreId;
    this.metadata = metadata;
    this.clusters = clusters;
    this.keyStores = keyStores;
    this.connections = connections;
    this.account = account;
    this.clock = clock;
    this.aliases = new KeyAliases(metadata, this, account, clock);
    this.tags = new KeyTags(metadata, this);
    this.policies = new KeyPolicies(metadata, this);
    this.leases = new CreateKeyLeases(metadata, node);
    int revoked = leases.revokeEarlierRuns();
    if (revoked > 0) {
      LOG.info("{} CreateKey(s) of this node's earlier run were interrupted; their leases are revoked", revoked);
    }
    connections.whenConnected(this::reconcile);
  }

  /** The aliases of these keys. */
  public KeyAliases aliases() {
    return aliases;
  }

  /** The tags of these keys. */
  public KeyTags tags() {
    return tags;
  }

  /** The key policies of these keys. */
  public KeyPolicies policies() {
    return policies;
  }

  /** CreateKey: a symmetric KMS key whose AES-256 material is generated in the key store's cluster. */
  public KeyMetadata createKey(CreateKeyRequest request) {
    String description = Optional.ofNullable(length(request.description(), "description", 0, 8192)).orElse("");
    checkSupported(request);
    String policy = request.policy() == null ? KeyPolicies.defaultPolicy(account) : KeyPolicies.check(request.policy());
    List<Tag> tags = request.tags() == null ? List.of() : request.tags();
    KeyTags.checkTags(tags);
    boolean inDefaultStore = request.customKeyStoreId() == null;
    String keyStoreId = inDefaultStore
        ? defaultKeyStoreId.orElseThrow(() -> new KmsException(UnsupportedOperationException,
            "This Keyhold has no default key store; name a CustomKeyStoreId with Origin AWS_CLOUDHSM."))
        : request.customKeyStoreId();
    CustomKeyStoresListEntry store = keyStores.describe(keyStoreId);
    if (store.connectionState() != ConnectionState.CONNECTED) {
      throw new KmsException(CustomKeyStoreInvalidStateException, "Custom key store " + keyStoreId
          + " is in connection state " + store.connectionState() + "; CreateKey needs CONNECTED.");
    }
    Cluster cluster = clusters.find(store.cloudHsmClusterId()).filter(c -> c.activeHsms().size() >= 2)
        .orElseThrow(() -> new KmsException(CloudHsmClusterInvalidConfigurationException, "Cluster "
            + store.cloudHsmClusterId() + " needs at least two active HSMs to create keys."));
    ConnectedStore logins = connections.connected(keyStoreId).orElseThrow(() -> new KmsException(
        CustomKeyStoreInvalidStateException, "Custom key store " + keyStoreId + " is not connected."));
    boolean replicated = logins.replicatesKeys();
    List<ServingHsm> answering = logins.hsms().stream().filter(hsm -> !hsm.isLost()).toList();
    if (replicated && answering.size() < 2) {
      throw tooFewHsms(cluster.clusterId());
    }

    String keyId = UUID.randomUUID().toString();
    KeyRecord key = new KeyRecord(keyId, account.keyArn(keyId), keyStoreId, cluster.clusterId(), description,
        KeyState.Creating, clock.instant().truncatedTo(ChronoUnit.MILLIS), inDefaultStore ? AWS_KMS : AWS_CLOUDHSM,
        null);
    metadata.inTransaction(c -> {
      KeyTable.insert(c, key);
      leases.take(c, keyId);
      KeyPolicies.insert(c, key, policy);
      KeyTags.insert(c, key, tags);
      return null;
    });
    checkpoints.reached("intent-recorded");
    AesKeyTemplate.Builder template = AesKeyTemplate.builder(AesKey.of(key.arn(), idBytes(keyId)));
    try {
      makeMaterial(key, (replicated ? template.replicable() : template).build(), answering, replicated);
      checkpoints.reached("enabling");
      if (!leases.complete(keyId)) {
        throw leaseEnded();
      }
    } catch (RuntimeException e) {
      abandon(key, answering);
      throw e;
    }
    checkpoints.reached("enabled");
    return metadataOf(key.withState(KeyState.Enabled), store.connectionState());
  }

  /**
   * Generates the key's material on one answering HSM and, where the cluster does not sync keys
   * itself, copies it to every other answering HSM; an HSM lost on the way is left to the
   * reconciler. Fewer than two copies is not enough (a key must survive the loss of an HSM, and
   * CloudHSM's key availability quorum asks as much): CreateKey fails as it would with too few HSMs.
   * Renews the key's lease before each step, and fails once it has ended.
   */
  private void makeMaterial(KeyRecord key, AesKeyTemplate template, List<ServingHsm> answering, boolean replicated) {
    List<ServingHsm> holders = new ArrayList<>();
    Pkcs11Exception failure = null;
    for (ServingHsm hsm : answering) {
      if (!leases.renew(key.keyId())) {
        throw leaseEnded();
      }
      try {
        if (holders.isEmpty()) {
          hsm.token().generateAesKey(template);
          holders.add(hsm);
          checkpoints.reached("material-generated");
          if (!replicated) {
            return;
          }
        } else {
          KeyReplication.copyNew(template, holders.get(0).token(), hsm.token());
          holders.add(hsm);
          checkpoints.reached("replicated-to " + hsm.hsmId());
        }
      } catch (Pkcs11Exception e) {
        if (e instanceof DeviceLostException) {
          hsm.markLost();
        }
        failure = e;
      }
    }
    if (holders.size() >= (replicated ? 2 : 1)) {
      return;
    }
    if (replicated && !holders.isEmpty()) {
      throw tooFewHsms(key.clusterId());
    }
    throw new KmsException(KMSInternalException,
        "The key material could not be generated in cluster " + key.clusterId() + ".", failure);
  }

  /**
   * Undoes a CreateKey that will not answer success: ends its lease, destroys the material it may
   * have made on any HSM it used and, once none is left, removes the record. Where an HSM could not
   * be cleaned, the record stays, lease-less, and the rollback finishes the work.
   */
  private void abandon(KeyRecord key, List<ServingHsm> used) {
    try {
      leases.release(key.keyId());
      AesKey material = AesKey.of(key.arn(), idBytes(key.keyId()));
      boolean clean = true;
      for (ServingHsm hsm : used) {
        clean &= destroyIfPresent(hsm.token(), material);
      }
      if (clean) {
        metadata.inTransaction(c -> CreateKeyLeases.deleteRevoked(c, key.keyId()));
      }
    } catch (RuntimeException e) {
      LOG.warn("undoing the CreateKey of {} stopped; the rollback finishes it: {}", key.arn(), e.toString());
    }
  }

  /** Destroys {@code material} on {@code token}; true if it is gone from there now. */
  private static boolean destroyIfPresent(Token token, AesKey material) {
    try {
      token.destroyKey(material);
      return true;
    } catch (ObjectNotFoundException e) {
      return true;
    } catch (Pkcs11Exception e) {
      return false;
    }
  }

  /** The key id stays unsaid: the caller must never hold the id of a key that does not exist. */
  private static KmsException leaseEnded() {
    return new KmsException(KMSInternalException, "CreateKey outlasted its lease (an HSM or the metadata store "
        + "was too slow) and was rolled back; nothing was created. Retry the request.");
  }

  private static KmsException tooFewHsms(String clusterId) {
    return new KmsException(CloudHsmClusterInvalidConfigurationException, "Cluster " + clusterId
        + " needs at least two active HSMs to create keys.");
  }

  /** DescribeKey by key id, key ARN or alias, from the database: it shows what another node changed, too. */
  public KeyMetadata describeKey(String keyId) {
    String id = keyIdOf(required(keyId, "keyId"));
    KeyRecord key = read(id).orElseThrow(() -> gone(id));
    KeyRecord cached = cache.get(id);
    if (cached != null && !cached.equals(key)) {
      forget(id);
    }
    return metadataOf(key, keyStores.describe(key.keyStoreId()).connectionState());
  }

  /** ListKeys: every key in any state, Limit 1 to 1000 (default 100), Marker from the previous page. */
  public ListKeysResponse listKeys(Integer limit, String marker) {
    int pageSize = Optional.ofNullable(range(limit, "limit", 1, 1000)).orElse(DEFAULT_LIST_LIMIT);
    length(marker, "marker", 1, 1024);
    Page<KeyRecord> page = Page.of(metadata.inTransaction(KeyTable::all), KeyRecord::keyId, pageSize, marker);
    return new ListKeysResponse(page.items().stream().map(k -> new ListKeysResponse.Entry(k.keyId(), k.arn())).toList(),
        page.nextMarker(), page.truncated());
  }

  /** EnableKey. On a key whose store is disconnected it succeeds and shows once the store is back. */
  public void enableKey(String keyId) {
    change(keyId, key -> notPendingDeletion(key).withState(KeyState.Enabled));
  }

  /** DisableKey, deferred like EnableKey while the key is Unavailable. */
  public void disableKey(String keyId) {
    change(keyId, key -> notPendingDeletion(key).withState(KeyState.Disabled));
  }

  /** UpdateKeyDescription (0 to 8192 characters). */
  public void updateKeyDescription(String keyId, String description) {
    String text = length(required(description, "description"), "description", 0, 8192);
    change(keyId, key -> notPendingDeletion(key).withDescription(text));
  }

  /**
   * ScheduleKeyDeletion: the key becomes PendingDeletion for 7 to 30 days (default 30), after which
   * {@link #deleteDueKeys} deletes it and its material.
   */
  public ScheduleKeyDeletionResponse scheduleKeyDeletion(String keyId, Integer pendingWindowInDays) {
    int days = pendingWindowInDays == null ? 30 : pendingWindowInDays;
    if (days < 7 || days > 30) {
      throw new KmsException(ValidationException, "PendingWindowInDays must be between 7 and 30");
    }
    Instant deletionDate = clock.instant().plus(Duration.ofDays(days)).truncatedTo(ChronoUnit.MILLIS);
    KeyRecord pending = change(keyId, key -> notPendingDeletion(key).withDeletionOn(deletionDate));
    return new ScheduleKeyDeletionResponse(pending.arn(), pending.deletionDate(), KeyState.PendingDeletion, days);
  }

  /** CancelKeyDeletion: the key comes back Disabled. */
  public String cancelKeyDeletion(String keyId) {
    return change(keyId, key -> {
      if (key.state() != KeyState.PendingDeletion) {
        throw new KmsException(KMSInvalidStateException, key.arn() + " is not pending deletion.");
      }
      return key.withState(KeyState.Disabled);
    }).arn();
  }

  /** Rotation and imported material do not exist for keys in a CloudHSM key store. */
  public void enableKeyRotation(String keyId) {
    throw unsupportedFor(resolve(required(keyId, "keyId")), "automatic key rotation");
  }

  public void disableKeyRotation(String keyId) {
    throw unsupportedFor(resolve(required(keyId, "keyId")), "automatic key rotation");
  }

  public boolean getKeyRotationStatus(String keyId) {
    throw unsupportedFor(resolve(required(keyId, "keyId")), "automatic key rotation");
  }

  public void getParametersForImport(String keyId) {
    throw unsupportedFor(resolve(required(keyId, "keyId")), "imported key material");
  }

  public void importKeyMaterial(String keyId) {
    throw unsupportedFor(resolve(required(keyId, "keyId")), "imported key material");
  }

  /**
   * Deletes every key whose waiting period has ended: its metadata, and (best effort, as AWS) its
   * material on every HSM of its store that is logged in. Each deletion is first claimed in one
   * transaction (the record removed if it is still due, a PENDING row per HSM written in
   * {@code key_material_deletions}), so a CancelKeyDeletion that came first wins and a crash after the
   * claim leaves work the reconciler finishes. Returns the ARNs deleted. The service runs this
   * periodically.
   */
  public List<String> deleteDueKeys() {
    Instant now = clock.instant();
    List<String> deleted = new ArrayList<>();
    for (KeyRecord key : metadata.inTransaction(c -> KeyTable.dueForDeletion(c, now))) {
      if (claimDeletion(key, now)) {
        Map<String, MaterialDeletion> outcomes = destroyMaterial(key);
        metadata.inTransaction(c -> {
          for (Map.Entry<String, MaterialDeletion> outcome : outcomes.entrySet()) {
            KeyTable.finishDeletion(c, key.keyId(), outcome.getKey(), outcome.getValue().status(),
                outcome.getValue().detail(), now);
          }
          return null;
        });
        deleted.add(key.arn());
      }
    }
    return deleted;
  }

  private boolean claimDeletion(KeyRecord key, Instant now) {
    List<String> hsmIds = clusters.find(key.clusterId()).map(cluster -> cluster.hsms().stream().map(Hsm::hsmId)
        .toList()).orElse(List.of(NO_HSM));
    boolean claimed = metadata.inTransaction(c -> {
      if (!KeyTable.deleteIfDue(c, key.keyId(), now)) {
        return false;
      }
      for (String hsmId : hsmIds) {
        KeyTable.recordPendingDeletion(c, key, hsmId, now);
      }
      return true;
    });
    if (claimed) {
      forget(key.keyId());
      aliases.forgetKey(key.keyId());
    }
    return claimed;
  }

  /** What deleting a key did on one HSM: SUCCESS, ABSENT (no material there) or FAILURE, and why. */
  record MaterialDeletion(String status, String detail) {}

  private Map<String, MaterialDeletion> destroyMaterial(KeyRecord key) {
    Map<String, MaterialDeletion> outcomes = new LinkedHashMap<>();
    Optional<ConnectedStore> logins = connections.connected(key.keyStoreId());
    Cluster cluster = clusters.find(key.clusterId()).orElse(null);
    if (cluster == null) {
      outcomes.put(NO_HSM, new MaterialDeletion("FAILURE", "cluster " + key.clusterId() + " is not in the clusters file"));
      return outcomes;
    }
    AesKey material = AesKey.of(key.arn(), idBytes(key.keyId()));
    for (Hsm hsm : cluster.hsms()) {
      Token token = logins.map(l -> l.tokens().get(hsm.hsmId())).orElse(null);
      if (token == null) {
        outcomes.put(hsm.hsmId(),
            new MaterialDeletion("FAILURE", "not logged in (key store disconnected or HSM inactive)"));
        continue;
      }
      try {
        token.destroyKey(material);
        outcomes.put(hsm.hsmId(), new MaterialDeletion("SUCCESS", "destroyed"));
      } catch (ObjectNotFoundException e) {
        outcomes.put(hsm.hsmId(), new MaterialDeletion("ABSENT", "no material on this HSM"));
      } catch (Pkcs11Exception e) {
        outcomes.put(hsm.hsmId(), new MaterialDeletion("FAILURE", e.getMessage()));
      }
    }
    return outcomes;
  }

  /**
   * Changes a key's record as the database holds it now, in one transaction that locks its row:
   * {@code change} sees the current record (never the cache's copy), may refuse by throwing, and
   * returns the new one.
   */
  private KeyRecord change(String keyIdOrArn, UnaryOperator<KeyRecord> change) {
    String keyId = keyIdOf(required(keyIdOrArn, "keyId"));
    try {
      return metadata.inTransaction(c -> {
        KeyRecord next = change.apply(current(c, keyId));
        KeyTable.update(c, next);
        return next;
      });
    } finally {
      forget(keyId);
    }
  }

  /**
   * The finished record of {@code keyId} as the database holds it now, its row locked until the
   * caller's transaction ends, for a decision that must not race a change or a deletion.
   *
   * @throws KmsException NotFoundException if the key is gone (and forgotten)
   */
  KeyRecord current(Connection c, String keyId) throws SQLException {
    return KeyTable.lockById(c, keyId).orElseThrow(() -> gone(keyId));
  }

  /** A key whose record is gone, which the cache may still hold: forgotten, and NotFoundException to throw. */
  KmsException gone(String keyId) {
    forget(keyId);
    return notFound(keyId);
  }

  private KmsException notFound(String keyId) {
    return new KmsException(NotFoundException, "Key '" + account.keyArn(keyId) + "' does not exist");
  }

  /** Whether {@code keyId}'s finished record exists now; for failure paths only (it reads the database). */
  boolean exists(String keyId) {
    return read(keyId).isPresent();
  }

  /** The one invalidation point of the cache: after any change to a key, or its deletion. */
  private void forget(String keyId) {
    forgets.incrementAndGet();
    cache.remove(keyId);
  }

  private static KeyRecord notPendingDeletion(KeyRecord key) {
    if (key.state() == KeyState.PendingDeletion) {
      throw new KmsException(KMSInvalidStateException, key.arn() + " is pending deletion.");
    }
    return key;
  }

  private static KmsException unsupportedFor(KeyRecord key, String what) {
    return new KmsException(UnsupportedOperationException,
        key.arn() + " is in a custom key store, which does not support " + what + ".");
  }

  /**
   * The key named by a key id, key ARN, alias name or alias ARN, from the cache after its first use. A key whose CreateKey
   * has not finished does not exist yet.
   */
  KeyRecord resolve(String keyIdOrArn) {
    String keyId = keyIdOf(keyIdOrArn);
    KeyRecord key = cache.get(keyId);
    if (key != null) {
      return key;
    }
    long forgetsBefore = forgets.get();
    KeyRecord read = read(keyId).orElseThrow(() -> notFound(keyId));
    cache.put(keyId, read);
    if (forgets.get() != forgetsBefore) {
      cache.remove(keyId, read); // a change or deletion raced this read: what it read may be stale
    }
    return read;
  }

  /**
   * The key id that a key id, key ARN, alias name or alias ARN names, without reading the key: for a
   * caller that reads the key's row itself ({@link #current}).
   */
  String keyIdOf(String keyIdOrArn) {
    String given = length(keyIdOrArn, "keyId", 1, 2048);
    String keyId = given.startsWith("alias/") || given.contains(":alias/") ? aliases.keyIdOf(given)
        : given.startsWith("arn:") ? account.keyIdOf(given) : given;
    if (keyId == null || !KEY_ID.matcher(keyId).matches()) {
      throw new KmsException(NotFoundException, "Invalid keyId '" + given + "'");
    }
    return keyId;
  }

  /** The finished record of {@code keyId} in the database now; empty while its CreateKey runs. */
  private Optional<KeyRecord> read(String keyId) {
    return metadata.inTransaction(c -> KeyTable.byId(c, keyId)).filter(key -> key.state() != KeyState.Creating);
  }

  private KeyMetadata metadataOf(KeyRecord key, ConnectionState storeState) {
    KeyState state = key.state();
    if (storeState != ConnectionState.CONNECTED && (state == KeyState.Enabled || state == KeyState.Disabled)) {
      state = KeyState.Unavailable; // PendingDeletion wins over Unavailable
    }
    return new KeyMetadata(account.accountId(), key.keyId(), key.arn(), key.creationDate(),
        state == KeyState.Enabled, key.description(), ENCRYPT_DECRYPT, state, Optional.ofNullable(key.deletionDate()),
        key.origin(),
        customStore(key).map(KeyRecord::keyStoreId), customStore(key).map(KeyRecord::clusterId), "CUSTOMER",
        SYMMETRIC_DEFAULT,
        SYMMETRIC_DEFAULT, List.of(SYMMETRIC_DEFAULT), false);
  }

  /**
   * The key material report of a CONNECTED store: material missing per HSM for each of its KMS keys,
   * and material on its HSMs labelled as a key of this account that no KMS key owns.
   */
  public KeyMaterialReport keyMaterialReport(String customKeyStoreId) {
    ConnectedStore logins = connectedStore(customKeyStoreId);
    List<KeyRecord> owned = metadata.inTransaction(KeyTable::all).stream()
        .filter(key -> key.keyStoreId().equals(customKeyStoreId)).toList();
    Map<String, Set<String>> labelsByHsm = new LinkedHashMap<>();
    List<String> unreachable = new ArrayList<>();
    logins.tokens().forEach((hsmId, token) -> {
      try {
        labelsByHsm.put(hsmId, token.listAesKeys().stream().map(AesKey::label).collect(Collectors.toSet()));
      } catch (Pkcs11Exception e) {
        unreachable.add(hsmId);
      }
    });
    List<KeyMaterialReport.MissingMaterial> missing = new ArrayList<>();
    for (KeyRecord key : owned) {
      List<String> lacking = labelsByHsm.entrySet().stream()
          .filter(entry -> !entry.getValue().contains(key.arn())).map(Map.Entry::getKey).toList();
      if (!lacking.isEmpty()) {
        missing.add(new KeyMaterialReport.MissingMaterial(key.keyId(), key.arn(), lacking));
      }
    }
    Set<String> ownedArns = owned.stream().map(KeyRecord::arn).collect(Collectors.toSet());
    String prefix = account.keyArn("");
    List<KeyMaterialReport.Orphan> orphans = new ArrayList<>();
    labelsByHsm.forEach((hsmId, labels) -> labels.stream().sorted()
        .filter(label -> label.startsWith(prefix) && !ownedArns.contains(label))
        .forEach(label -> orphans.add(new KeyMaterialReport.Orphan(hsmId, label))));
    return new KeyMaterialReport(missing, orphans, unreachable);
  }

  /** The logins of {@code customKeyStoreId}, which must exist and be CONNECTED. */
  ConnectedStore connectedStore(String customKeyStoreId) {
    CustomKeyStoresListEntry store = keyStores.describe(customKeyStoreId);
    return connections.connected(store.customKeyStoreId()).orElseThrow(() -> new KmsException(
        CustomKeyStoreInvalidStateException, "Custom key store " + customKeyStoreId + " is in connection state "
            + store.connectionState() + "; it needs CONNECTED."));
  }

  private static Optional<KeyRecord> customStore(KeyRecord key) {
    return key.origin().equals(AWS_CLOUDHSM) ? Optional.of(key) : Optional.empty();
  }

  /**
   * Rolls back every CreateKey of {@code keyStoreId} that a crash (or a hung HSM) interrupted, on any
   * node: a Creating record whose lease has ended. Each is decided on its row as it is now: its lease
   * is revoked first, so its CreateKey can no longer complete, then its material, if any, is
   * destroyed on every HSM and the record removed. The caller never got the key id, so nothing can
   * depend on it. Runs whenever the store connects, and in every reconciler pass.
   */
  void reconcile(String keyStoreId) {
    List<KeyRecord> candidates = metadata.inTransaction(c -> KeyTable.creatingWithEndedLease(c, keyStoreId));
    checkpoints.reached("rollback-listed");
    for (KeyRecord key : candidates) {
      if (!leases.revokeIfEnded(key.keyId())) {
        continue; // completed, or removed by another rollback, since the list was read
      }
      Map<String, MaterialDeletion> outcomes = destroyMaterial(key);
      if (outcomes.values().stream().anyMatch(outcome -> outcome.status().equals("FAILURE"))) {
        continue; // an HSM could not be checked: the next connect or reconciler pass tries again
      }
      if (metadata.inTransaction(c -> CreateKeyLeases.deleteRevoked(c, key.keyId()))) {
        LOG.info("rolled back the interrupted CreateKey of {}", key.arn());
      }
    }
  }

  private static void checkSupported(CreateKeyRequest request) {
    if (request.keySpec() != null && !request.keySpec().equals(SYMMETRIC_DEFAULT)) {
      throw new KmsException(UnsupportedOperationException,
          "KeySpec " + request.keySpec() + " is not supported for KMS keys in a custom key store.");
    }
    if (request.keyUsage() != null && !request.keyUsage().equals(ENCRYPT_DECRYPT)) {
      throw new KmsException(UnsupportedOperationException,
          "KeyUsage " + request.keyUsage() + " is not supported for KMS keys in a custom key store.");
    }
    if (Boolean.TRUE.equals(request.multiRegion())) {
      throw new KmsException(UnsupportedOperationException,
          "Multi-Region keys are not supported in a custom key store.");
    }
    String origin = request.origin() == null ? AWS_KMS : request.origin();
    boolean named = request.customKeyStoreId() != null;
    if (named != origin.equals(AWS_CLOUDHSM) || !(origin.equals(AWS_KMS) || origin.equals(AWS_CLOUDHSM))) {
      throw new KmsException(UnsupportedOperationException, "Origin " + origin + (named ? " with" : " without")
          + " a CustomKeyStoreId is not supported: use Origin AWS_CLOUDHSM with a CustomKeyStoreId, or neither.");
    }
  }

  /** The cluster of the key store {@code customKeyStoreId}. */
  String clusterIdOf(String customKeyStoreId) {
    return keyStores.describe(customKeyStoreId).cloudHsmClusterId();
  }

  /** CKA_ID: the key id's 16 bytes, so an operator can find the material by id as well as by label. */
  static byte[] idBytes(String keyId) {
    UUID uuid = UUID.fromString(keyId);
    return ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits())
        .array();
  }
}
