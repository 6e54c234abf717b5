package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterInvalidConfigurationException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInternalException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.UnsupportedOperationException;
import static dev.keyhold.kms.error.Validation.enumValue;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;
import static dev.keyhold.kms.error.Validation.text;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Clusters;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Page;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.CustomKeyStoresListEntry;
import dev.keyhold.kms.keystore.DescribeCustomKeyStoresRequest;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.keystore.ServingHsm;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.kms.policy.Policy;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.DeviceLostException;
import dev.keyhold.pkcs11.ObjectNotFoundException;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenFailureException;
import java.time.Clock;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * KMS keys in CloudHSM key stores and their lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey,
 * DisableKey, UpdateKeyDescription, with AWS's names, members, state rules and exceptions; and the
 * operations around keys ({@link #resolver()}, {@link #deletions()}, {@link #aliases()}, {@link #tags()},
 * {@link #policies()}, {@link #materialReports()}). Time comes from the injected clock.
 *
 * <p>CreateKey records its intent (state {@link KeyState#Creating}) before it generates the key
 * material, labelled with the key ARN and identified by the key id's 16 bytes, in the store's cluster;
 * so a crash between the two leaves a visible record, never material that no KMS key owns. The record
 * carries a lease ({@link CreateKeyLeases}) that the running CreateKey renews before each step; the
 * crash rollback ({@link CreateKeyRollback}) takes only records whose lease has ended, on this node or
 * any other.
 *
 * <p>The database is the one source of truth. Every change is decided on the key's row as it is now,
 * locked in the changing transaction, never on the cached copy ({@link KeyRecords}).
 */
public final class KmsKeys {
  private static final int DEFAULT_LIST_LIMIT = 100;
  private static final Logger LOG = LoggerFactory.getLogger(KmsKeys.class);

  private final MetadataStore metadata;
  private final Clusters clusters;
  private final CustomKeyStores keyStores;
  private final KeyStoreConnections connections;
  private final Account account;
  private final Clock clock;
  private final Optional<String> defaultKeyStoreName;
  private final Checkpoints checkpoints;
  private final KeyRecords records;
  private final KeyDeletions deletions;
  private final KeyAliases aliases;
  private final KeyTags tags;
  private final KeyPolicies policies;
  private final KeyMaterialReports materialReports;
  private final CreateKeyLeases leases;
  private final CreateKeyRollback rollback;

  public KmsKeys(MetadataStore metadata, Clusters clusters, CustomKeyStores keyStores,
      KeyStoreConnections connections, Account account, Clock clock) {
    this(metadata, clusters, keyStores, connections, account, clock, Optional.empty(), ServiceNode.LOCAL,
        Checkpoints.NONE);
  }

  /**
   * Revokes the CreateKey leases that {@code node}'s earlier runs left (see {@link ServiceNode}).
   *
   * @param defaultKeyStoreName the key store where CreateKey puts keys when the request names none;
   *     such keys report Origin AWS_KMS, so clients that never heard of custom key stores work unchanged
   * @param node this process as a node of the service, whose runs hold the leases of its CreateKeys
   * @param checkpoints told each durable step of a CreateKey ({@code intent-recorded},
   *     {@code material-generated}, {@code replicated-to <hsm>}, {@code enabling}, {@code enabled}) and
   *     of a rollback pass ({@code rollback-listed}, once its candidates are read)
   */
  public KmsKeys(MetadataStore metadata, Clusters clusters, CustomKeyStores keyStores,
      KeyStoreConnections connections, Account account, Clock clock, Optional<String> defaultKeyStoreName,
      ServiceNode node, Checkpoints checkpoints) {
    this.metadata = metadata;
    this.clusters = clusters;
    this.keyStores = keyStores;
    this.connections = connections;
    this.account = account;
    this.clock = clock;
    this.defaultKeyStoreName = defaultKeyStoreName;
    this.checkpoints = checkpoints;
    this.records = new KeyRecords(metadata, account);
    this.deletions = new KeyDeletions(metadata, records, clusters, connections, clock);
    this.aliases = new KeyAliases(metadata, records, account, clock);
    this.tags = new KeyTags(metadata, records);
    this.policies = new KeyPolicies(metadata, records);
    this.materialReports = new KeyMaterialReports(metadata, keyStores, account);
    this.leases = new CreateKeyLeases(metadata, node);
    this.rollback = new CreateKeyRollback(metadata, leases, deletions, checkpoints);
    int revoked = leases.revokeEarlierRuns();
    if (revoked > 0) {
      LOG.info("{} CreateKey(s) of this node's earlier run were interrupted; their leases are revoked", revoked);
    }
    connections.whenConnected(rollback::run);
  }

  /** Key resolution: a key id, key ARN, alias name or alias ARN to the key, its state and its policy. */
  public KeyRecords resolver() {
    return records;
  }

  /** ScheduleKeyDeletion, CancelKeyDeletion and the deletion of keys whose waiting period ended. */
  public KeyDeletions deletions() {
    return deletions;
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

  /** The key material reports of the key stores. */
  public KeyMaterialReports materialReports() {
    return materialReports;
  }

  /** CreateKey: a symmetric KMS key whose AES-256 material is generated in the key store's cluster. */
  public KeyMetadata createKey(CreateKeyRequest request) {
    String description = Optional.ofNullable(text(request.description(), "description", 0, 8192)).orElse("");
    checkSupported(request);
    String policy = request.policy() == null ? KeyPolicies.defaultPolicy(account)
        : Policy.parse(request.policy()).document();
    List<Tag> tags = request.tags() == null ? List.of() : request.tags();
    KeyTags.checkTags(tags);
    boolean inDefaultStore = request.customKeyStoreId() == null;
    CustomKeyStoresListEntry store = inDefaultStore ? defaultKeyStore() : keyStores.describe(request.customKeyStoreId());
    String keyStoreId = store.customKeyStoreId();
    if (store.connectionState() != ConnectionState.CONNECTED) {
      throw new KmsException(CustomKeyStoreInvalidStateException, "Custom key store " + keyStoreId
          + " is in connection state " + store.connectionState() + "; CreateKey needs CONNECTED.");
    }
    Cluster cluster = clusters.current().find(store.cloudHsmClusterId()).filter(c -> c.activeHsms().size() >= 2)
        .orElseThrow(() -> tooFewHsms(store.cloudHsmClusterId()));
    ConnectedStore logins = connections.connected(keyStoreId).orElseThrow(() -> new KmsException(
        CustomKeyStoreInvalidStateException, "Custom key store " + keyStoreId + " is not connected."));
    boolean replicated = logins.replicatesKeys();
    List<ServingHsm> answering = logins.hsms().stream().filter(hsm -> !hsm.isLost()).toList();
    if (replicated && answering.size() < 2) {
      throw tooFewHsms(cluster.clusterId());
    }

    String keyId = UUID.randomUUID().toString();
    KeyRecord key = new KeyRecord(keyId, account.keyArn(keyId), keyStoreId, cluster.clusterId(), description,
        KeyState.Creating, clock.instant().truncatedTo(ChronoUnit.MILLIS),
        inDefaultStore ? Origin.AWS_KMS : Origin.AWS_CLOUDHSM, null);
    metadata.inTransaction(c -> {
      KeyTable.insert(c, key);
      leases.take(c, keyId);
      KeyPolicies.insert(c, key, policy);
      KeyTags.insert(c, key, tags);
      return null;
    });
    checkpoints.reached("intent-recorded");
    AesKeyTemplate.Builder template = AesKeyTemplate.builder(key.material());
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

  private CustomKeyStoresListEntry defaultKeyStore() {
    String name = defaultKeyStoreName.orElseThrow(() -> new KmsException(UnsupportedOperationException,
        "This Keyhold has no default key store; name a CustomKeyStoreId with Origin AWS_CLOUDHSM."));
    return keyStores.describeCustomKeyStores(DescribeCustomKeyStoresRequest.named(name)).customKeyStores().get(0);
  }

  /**
   * Generates the key's material on one answering HSM and, where the cluster does not sync keys
   * itself, copies it to every other answering HSM, including one that refused to generate it; an HSM
   * lost on the way is left to the reconciler. Fewer than two copies is not enough (a key must survive
   * the loss of an HSM, and CloudHSM's key availability quorum asks as much): CreateKey fails as it
   * would with too few HSMs.
   * Renews the key's lease before each step, and fails once it has ended.
   */
  private void makeMaterial(KeyRecord key, AesKeyTemplate template, List<ServingHsm> answering, boolean replicated) {
    List<ServingHsm> holders = new ArrayList<>();
    // An HSM that refused to generate (a CKR code in time, so it made nothing) can still take a copy.
    List<ServingHsm> refusedToGenerate = new ArrayList<>();
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
          copyToAnswering(template, holders.get(0), hsm);
          holders.add(hsm);
          checkpoints.reached("replicated-to " + hsm.hsmId());
        }
      } catch (Pkcs11Exception e) {
        if (e instanceof DeviceLostException) {
          hsm.markLost();
        }
        if (holders.isEmpty() && e instanceof TokenFailureException) {
          refusedToGenerate.add(hsm);
        }
        LOG.warn("CreateKey of {}: the key material could not be {} HSM {}: {}", key.keyId(),
            holders.isEmpty() ? "generated in" : "copied to", hsm.hsmId(), e.getMessage());
        failure = e;
      }
    }
    if (replicated && !holders.isEmpty()) {
      for (ServingHsm hsm : refusedToGenerate) {
        try {
          copyToAnswering(template, holders.get(0), hsm);
          holders.add(hsm);
          checkpoints.reached("replicated-to " + hsm.hsmId());
        } catch (Pkcs11Exception e) {
          LOG.warn("CreateKey of {}: the key material could not be copied to HSM {} either: {}", key.keyId(),
              hsm.hsmId(), e.getMessage());
        }
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
   * Copies the new key to {@code to}, and once more if the first attempt fails: a token that lost its
   * device since its last call (an HSM that just returned, its old sessions dead) fails the first
   * call and logs in again on the next. The second attempt first looks for the key on {@code to}, since
   * the failed one may have unwrapped it. Only a copy is tried again: a key generated twice would differ.
   */
  private static void copyToAnswering(AesKeyTemplate template, ServingHsm from, ServingHsm to) {
    try {
      KeyReplication.copyNew(template, from.token(), to.token());
    } catch (Pkcs11Exception e) {
      LOG.info("CreateKey of {}: copying it to HSM {} failed ({}); trying once more", template.key().label(),
          to.hsmId(), e.getMessage());
      KeyReplication.copy(template, from.token(), to.token());
    }
  }

  /**
   * Undoes a CreateKey that will not answer success: ends its lease, destroys the material it may
   * have made on any HSM it used and, once none is left, removes the record. Where an HSM could not
   * be cleaned, the record stays, lease-less, and the rollback finishes the work.
   */
  private void abandon(KeyRecord key, List<ServingHsm> used) {
    try {
      leases.release(key.keyId());
      boolean clean = true;
      for (ServingHsm hsm : used) {
        clean &= destroyIfPresent(hsm.token(), key.material());
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
    String id = records.keyIdOf(keyId);
    KeyRecord key = records.read(id).orElseThrow(() -> records.gone(id));
    records.forgetIfStale(key);
    return metadataOf(key, keyStores.describe(key.keyStoreId()).connectionState());
  }

  /** ListKeys: every key in any state, Limit 1 to 1000 (default 100), Marker from the previous page. */
  public ListKeysResponse listKeys(Integer limit, String marker) {
    int pageSize = Optional.ofNullable(range(limit, "limit", 1, 1000)).orElse(DEFAULT_LIST_LIMIT);
    text(marker, "marker", 1, 1024);
    Page<KeyRecord> page = Page.of(metadata.inTransaction(KeyTable::all), KeyRecord::keyId, pageSize, marker);
    return new ListKeysResponse(page.items().stream().map(k -> new ListKeysResponse.Entry(k.keyId(), k.arn())).toList(),
        page.nextMarker(), page.truncated());
  }

  /** EnableKey. On a key whose store is disconnected it succeeds and shows once the store is back. */
  public void enableKey(String keyId) {
    records.change(keyId, key -> notPendingDeletion(key).withState(KeyState.Enabled));
  }

  /** DisableKey, deferred like EnableKey while the key is Unavailable. */
  public void disableKey(String keyId) {
    records.change(keyId, key -> notPendingDeletion(key).withState(KeyState.Disabled));
  }

  /** UpdateKeyDescription (0 to 8192 characters). */
  public void updateKeyDescription(String keyId, String description) {
    String text = text(required(description, "description"), "description", 0, 8192);
    records.change(keyId, key -> notPendingDeletion(key).withDescription(text));
  }

  /** Rotation and imported material do not exist for keys in a CloudHSM key store. */
  public void enableKeyRotation(String keyId) {
    throw unsupportedFor(records.resolve(keyId), "automatic key rotation");
  }

  public void disableKeyRotation(String keyId) {
    throw unsupportedFor(records.resolve(keyId), "automatic key rotation");
  }

  public boolean getKeyRotationStatus(String keyId) {
    throw unsupportedFor(records.resolve(keyId), "automatic key rotation");
  }

  public void getParametersForImport(String keyId) {
    throw unsupportedFor(records.resolve(keyId), "imported key material");
  }

  public void importKeyMaterial(String keyId) {
    throw unsupportedFor(records.resolve(keyId), "imported key material");
  }

  static KeyRecord notPendingDeletion(KeyRecord key) {
    if (key.state() == KeyState.PendingDeletion) {
      throw new KmsException(KMSInvalidStateException, key.arn() + " is pending deletion.");
    }
    return key;
  }

  private static KmsException unsupportedFor(ResolvedKey key, String what) {
    return new KmsException(UnsupportedOperationException,
        key.arn() + " is in a custom key store, which does not support " + what + ".");
  }

  private KeyMetadata metadataOf(KeyRecord key, ConnectionState storeState) {
    KeyState state = key.state();
    if (storeState != ConnectionState.CONNECTED && (state == KeyState.Enabled || state == KeyState.Disabled)) {
      state = KeyState.Unavailable; // PendingDeletion wins over Unavailable
    }
    boolean custom = key.origin() == Origin.AWS_CLOUDHSM;
    return new KeyMetadata(account.accountId(), key.keyId(), key.arn(), key.creationDate(),
        state == KeyState.Enabled, key.description(), KeyUsage.ENCRYPT_DECRYPT, state,
        Optional.ofNullable(key.deletionDate()), key.origin(),
        custom ? Optional.of(key.keyStoreId()) : Optional.empty(),
        custom ? Optional.of(key.clusterId()) : Optional.empty(), "CUSTOMER",
        KeySpec.SYMMETRIC_DEFAULT, KeySpec.SYMMETRIC_DEFAULT, List.of(KmsCrypto.SYMMETRIC_DEFAULT), false);
  }

  /** The prefix of the ARNs of this account's keys, which label their material. */
  String keyArnPrefix() {
    return account.keyArn("");
  }

  /** For the reconciler, which runs the rollback in each pass. */
  CreateKeyRollback rollback() {
    return rollback;
  }

  /** For the reconciler, which reads the HSM states of a cluster that syncs keys from the clusters file. */
  Clusters clusters() {
    return clusters;
  }

  private static void checkSupported(CreateKeyRequest request) {
    KeySpec keySpec = enumValue(KeySpec.class, request.keySpec(), "keySpec");
    if (keySpec != null && keySpec != KeySpec.SYMMETRIC_DEFAULT) {
      throw new KmsException(UnsupportedOperationException,
          "KeySpec " + keySpec + " is not supported for KMS keys in a custom key store.");
    }
    KeyUsage keyUsage = enumValue(KeyUsage.class, request.keyUsage(), "keyUsage");
    if (keyUsage != null && keyUsage != KeyUsage.ENCRYPT_DECRYPT) {
      throw new KmsException(UnsupportedOperationException,
          "KeyUsage " + keyUsage + " is not supported for KMS keys in a custom key store.");
    }
    if (Boolean.TRUE.equals(request.multiRegion())) {
      throw new KmsException(UnsupportedOperationException,
          "Multi-Region keys are not supported in a custom key store.");
    }
    Origin origin = Optional.ofNullable(enumValue(Origin.class, request.origin(), "origin")).orElse(Origin.AWS_KMS);
    boolean named = request.customKeyStoreId() != null;
    if (named != (origin == Origin.AWS_CLOUDHSM) || !(origin == Origin.AWS_KMS || origin == Origin.AWS_CLOUDHSM)) {
      throw new KmsException(UnsupportedOperationException, "Origin " + origin + (named ? " with" : " without")
          + " a CustomKeyStoreId is not supported: use Origin AWS_CLOUDHSM with a CustomKeyStoreId, or neither.");
    }
  }
}
