package dev.keyhold.kms.key;

import com.google.common.collect.ImmutableList;
import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Clusters;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.keystore.ServingHsm;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.DeviceLostException;
import dev.keyhold.pkcs11.ObjectNotFoundException;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Token;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps every HSM of each connected key store serving and complete, in the background: each pass
 * probes every HSM with real crypto (a lost HSM that answers again is used again, without a restart),
 * where the cluster does not sync keys itself, copies keys an HSM lacks from an HSM that has them
 * (an HSM down at CreateKey, a new HSM joined to the cluster), and on every cluster finishes deletions
 * that could not reach an HSM and rolls back CreateKeys that a crash interrupted. Its findings are the stores'
 * {@link ClusterHealth}.
 *
 * <p>It never brings back a deleted key: it copies a key only while holding its record's row in the
 * metadata store, which a deletion must remove (and can only then destroy the material), so a copy and
 * a deletion never interleave, on this node or across nodes.
 */
public final class KeyReplication implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KeyReplication.class);
  /** How long a claimed deletion may stay PENDING before its deleter is taken for dead. */
  private static final Duration ABANDONED_AFTER = Duration.ofMinutes(1);

  private final CreateKeyRollback rollback;
  private final Clusters clusters;
  private final CustomKeyStores keyStores;
  private final KeyStoreConnections connections;
  private final MetadataStore metadata;
  private final Clock clock;
  private final Map<String, ClusterHealth> health = new ConcurrentHashMap<>();
  /** Per store and HSM, the labels it held when last listed, for the health of an HSM that is lost. */
  private final Map<String, Map<String, Set<String>>> lastListed = new ConcurrentHashMap<>();
  private ScheduledExecutorService scheduler; // guarded by this

  private final String keyArnPrefix;
  /** The keys that each store's last pass found without material. */
  private final Map<String, List<String>> withoutMaterial = new ConcurrentHashMap<>();

  public KeyReplication(KmsKeys keys, CustomKeyStores keyStores, KeyStoreConnections connections,
      MetadataStore metadata, Clock clock) {
    this.rollback = keys.rollback();
    this.clusters = keys.clusters();
    this.keyArnPrefix = keys.keyArnPrefix();
    this.keyStores = keyStores;
    this.connections = connections;
    this.metadata = metadata;
    this.clock = clock;
  }

  /** Runs a pass every {@code interval} on a thread of its own, until {@link #close()}. */
  public synchronized void start(Duration interval) {
    if (scheduler != null) {
      return;
    }
    scheduler = Executors.newSingleThreadScheduledExecutor(
        new ThreadFactoryBuilder().setNameFormat("keyhold-replication").setDaemon(true).build());
    // The future is not needed: runOnceQuietly logs its own failures, and close() stops the scheduler.
    Future<?> unused =
        scheduler.scheduleWithFixedDelay(this::runOnceQuietly, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** One pass over every connected store: probe, reconcile, report. */
  public void runOnce() {
    runOnce(true);
  }

  /**
   * One pass over every connected store, without changing anything: this node's HSMs probed (a lost
   * one marked answering again once it answers) and the health reported. For the nodes that do not
   * hold the reconciler's role: their logins are their own, the reconciliation is the holder's.
   */
  public void probeOnce() {
    runOnce(false);
  }

  private synchronized void runOnce(boolean reconcile) {
    for (String storeId : connections.connectedStoreIds()) {
      connections.connected(storeId).ifPresent(logins -> pass(storeId, logins, reconcile));
    }
    health.keySet().retainAll(connections.connectedStoreIds());
    withoutMaterial.keySet().retainAll(connections.connectedStoreIds());
  }

  /** The health of every connected store's cluster, as of the last pass. */
  public ImmutableList<ClusterHealth> health() {
    return ImmutableList.copyOf(health.values());
  }

  public Optional<ClusterHealth> health(String customKeyStoreId) {
    return Optional.ofNullable(health.get(customKeyStoreId));
  }

  @Override
  public synchronized void close() {
    if (scheduler != null) {
      scheduler.shutdownNow();
      scheduler = null;
    }
  }

  /**
   * Copies {@code template}'s key from {@code from} into {@code to}, wrapped under the cluster's
   * trusted key: it is never in clear, and {@code to} unwraps it with the same label, id and
   * attributes. A copy already there is kept (a crash may have come after the unwrap).
   */
  static void copy(AesKeyTemplate template, Token from, Token to) {
    if (to.findAesKey(template.key().label()).isEmpty()) {
      copyNew(template, from, to);
    }
  }

  /**
   * {@link #copy} without looking for a copy already there: for a key just drawn, which cannot be on
   * {@code to} yet. The look-up costs more as a token fills (SoftHSM2 checks every object).
   */
  static void copyNew(AesKeyTemplate template, Token from, Token to) {
    AesKey key = template.key();
    byte[] wrapped;
    try {
      wrapped = from.wrapKey(TrustedWrappingKey.NAME, key);
    } catch (ObjectNotFoundException e) {
      if (from.findAesKey(TrustedWrappingKey.NAME.label()).isEmpty()) {
        throw new IllegalStateException("token '" + from.label() + "' holds no trusted wrapping key: run the"
            + " cluster's trust ceremony (bin/provision-cluster) before creating keys", e);
      }
      throw e;
    }
    to.unwrapAesKey(TrustedWrappingKey.NAME, wrapped, template);
  }

  private void runOnceQuietly() {
    try {
      runOnce();
    } catch (RuntimeException e) {
      LOG.warn("replication pass failed; the next pass tries again", e);
    }
  }

  private void pass(String storeId, ConnectedStore logins, boolean reconcile) {
    for (ServingHsm hsm : logins.hsms()) {
      try {
        hsm.token().probe();
        if (hsm.isLost()) {
          LOG.info("HSM {} of key store {} answers again", hsm.hsmId(), storeId);
        }
        hsm.markAnswering();
      } catch (Pkcs11Exception e) {
        if (!hsm.isLost()) {
          LOG.warn("HSM {} of key store {} is lost: {}", hsm.hsmId(), storeId, e.getMessage());
        }
        hsm.markLost();
      }
    }
    Map<String, Set<String>> listed = lastListed.computeIfAbsent(storeId, id -> new ConcurrentHashMap<>());
    // Labels before records: CreateKey writes its record before the material, so no label seen here
    // can belong to a key whose record the read below misses.
    for (ServingHsm hsm : logins.hsms()) {
      if (!hsm.isLost()) {
        list(hsm).ifPresent(labels -> listed.put(hsm.hsmId(), labels));
      }
    }
    if (reconcile) {
      rollback.run(storeId);
    }
    List<KeyRecord> owned =
        metadata.inTransaction(KeyTable::all).stream().filter(key -> key.keyStoreId().equals(storeId)).toList();
    if (reconcile) {
      if (logins.replicatesKeys()) {
        copyMissing(storeId, logins, owned, listed);
      }
      // A cluster that syncs keys copies them itself, but a deletion that could not reach it is ours to finish.
      finishDeletions(storeId, logins);
    }
    KeyMaterialReport material = KeyMaterialReport.of(owned, listed, List.of(), keyArnPrefix);
    // A key whose material was made after the listing above looks bare for one pass: report only the
    // keys that two passes in a row found without material.
    List<String> candidates = material.keysWithoutMaterial();
    List<String> previously = withoutMaterial.getOrDefault(storeId, List.of());
    List<String> bare = candidates.stream().filter(previously::contains).toList();
    List<String> reportedBefore = health.containsKey(storeId) ? health.get(storeId).keysWithoutMaterial() : List.of();
    bare.stream().filter(arn -> !reportedBefore.contains(arn))
        .forEach(arn -> LOG.warn("no HSM of key store {} holds the material of {}: its calls fail until a backup "
            + "that holds it is restored", storeId, arn));
    withoutMaterial.put(storeId, candidates);
    String clusterId = keyStores.describe(storeId).cloudHsmClusterId();
    Optional<Cluster> syncing = clusters.current().find(clusterId).filter(cluster -> !logins.replicatesKeys());
    health.put(storeId, syncing.map(cluster -> syncedHealthOf(storeId, cluster, logins, owned, listed, bare,
        material.orphans())).orElseGet(() -> healthOf(storeId, clusterId, logins, owned, listed, bare,
        material.orphans())));
  }

  private static Optional<Set<String>> list(ServingHsm hsm) {
    try {
      Set<String> labels = new HashSet<>();
      hsm.token().listAesKeys().forEach(key -> labels.add(key.label()));
      return Optional.of(labels);
    } catch (Pkcs11Exception e) {
      if (e instanceof DeviceLostException) {
        hsm.markLost();
      }
      return Optional.empty();
    }
  }

  private void copyMissing(String storeId, ConnectedStore logins, List<KeyRecord> owned,
      Map<String, Set<String>> listed) {
    for (KeyRecord key : owned) {
      List<ServingHsm> holders = new ArrayList<>();
      List<ServingHsm> lacking = new ArrayList<>();
      for (ServingHsm hsm : logins.hsms()) {
        Set<String> labels = listed.get(hsm.hsmId());
        if (hsm.isLost() || labels == null) {
          continue;
        }
        (labels.contains(key.arn()) ? holders : lacking).add(hsm);
      }
      if (holders.isEmpty() || lacking.isEmpty()) {
        continue;
      }
      AesKeyTemplate template = AesKeyTemplate.builder(key.material())
          .replicable().build();
      for (ServingHsm target : lacking) {
        try {
          boolean copied = metadata.inTransaction(c -> {
            if (KeyTable.lockById(c, key.keyId()).isEmpty()) {
              return false; // deleted since the list was read
            }
            copy(template, holders.get(0).token(), target.token());
            return true;
          });
          if (copied) {
            listed.get(target.hsmId()).add(key.arn());
            LOG.info("copied {} of key store {} to HSM {}", key.arn(), storeId, target.hsmId());
          }
        } catch (Pkcs11Exception | IllegalStateException e) {
          LOG.warn("copying {} to HSM {} failed; the next pass tries again: {}", key.arn(), target.hsmId(),
              e.getMessage());
        }
      }
    }
  }

  /**
   * Destroys the material of deleted keys on HSMs that were unreachable when the key was deleted, or
   * whose deleter died after claiming the deletion.
   */
  private void finishDeletions(String storeId, ConnectedStore logins) {
    Instant abandonedBefore = clock.instant().minus(ABANDONED_AFTER);
    for (KeyTable.UnfinishedDeletion deletion :
        metadata.inTransaction(c -> KeyTable.unfinishedDeletions(c, storeId, abandonedBefore))) {
      ServingHsm hsm = logins.hsms().stream().filter(h -> h.hsmId().equals(deletion.hsmId()) && !h.isLost())
          .findFirst().orElse(null);
      if (hsm == null) {
        continue;
      }
      MaterialDeletion outcome = MaterialDeletion.destroy(hsm.token(), KeyRecord.material(deletion.arn(), deletion.keyId()));
      if (outcome.failed()) {
        continue;
      }
      metadata.inTransaction(c -> {
        KeyTable.finishDeletion(c, deletion.keyId(), deletion.hsmId(),
            new MaterialDeletion(outcome.status(), "destroyed by the reconciler"),
            clock.instant());
        return null;
      });
    }
  }

  /**
   * The health of a cluster that syncs its keys (AWS CloudHSM). Keyhold sees it as one slot, which
   * answers while any HSM behind it does: the slot tells whether the cluster answers and which keys
   * it holds, and only the clusters file (which an operator refreshes from {@code aws cloudhsmv2
   * describe-clusters}) which of its HSMs are ACTIVE. Each HSM of the file but the DELETED ones is
   * reported, ACTIVE when it is ACTIVE there and the slot answers.
   */
  private static ClusterHealth syncedHealthOf(String storeId, Cluster cluster, ConnectedStore logins,
      List<KeyRecord> owned, Map<String, Set<String>> listed, List<String> keysWithoutMaterial,
      List<KeyMaterialReport.Orphan> orphans) {
    Optional<ServingHsm> answering = logins.hsms().stream().filter(hsm -> !hsm.isLost()).findFirst();
    ServingHsm slot = answering.orElse(logins.hsms().get(0));
    Set<String> labels = listed.getOrDefault(slot.hsmId(), Set.of());
    int missing = (int) owned.stream().filter(key -> !labels.contains(key.arn())).count();
    List<ClusterHealth.Hsm> hsms = cluster.hsms().stream().filter(hsm -> hsm.state() != HsmState.DELETED)
        .map(hsm -> new ClusterHealth.Hsm(hsm.hsmId(), hsm.state() == HsmState.ACTIVE && answering.isPresent()
            ? ClusterHealth.State.ACTIVE : ClusterHealth.State.DEGRADED, missing))
        .toList();
    boolean complete = missing == 0 && hsms.stream().allMatch(hsm -> hsm.state() == ClusterHealth.State.ACTIVE);
    ClusterHealth.State state = answering.isEmpty() ? ClusterHealth.State.UNAVAILABLE
        : complete ? ClusterHealth.State.ACTIVE : ClusterHealth.State.DEGRADED;
    return new ClusterHealth(storeId, cluster.clusterId(), state, hsms, keysWithoutMaterial, orphans);
  }

  private static ClusterHealth healthOf(String storeId, String clusterId, ConnectedStore logins,
      List<KeyRecord> owned, Map<String, Set<String>> listed, List<String> keysWithoutMaterial,
      List<KeyMaterialReport.Orphan> orphans) {
    List<ClusterHealth.Hsm> hsms = new ArrayList<>();
    boolean complete = true;
    int answering = 0;
    for (ServingHsm hsm : logins.hsms()) {
      Set<String> labels = listed.getOrDefault(hsm.hsmId(), Set.of());
      int missing = (int) owned.stream().filter(key -> !labels.contains(key.arn())).count();
      ClusterHealth.State state = hsm.isLost() ? ClusterHealth.State.DEGRADED : ClusterHealth.State.ACTIVE;
      answering += hsm.isLost() ? 0 : 1;
      complete &= !hsm.isLost() && missing == 0;
      hsms.add(new ClusterHealth.Hsm(hsm.hsmId(), state, missing));
    }
    ClusterHealth.State state = answering == 0 ? ClusterHealth.State.UNAVAILABLE
        : complete ? ClusterHealth.State.ACTIVE : ClusterHealth.State.DEGRADED;
    return new ClusterHealth(storeId, clusterId, state, hsms, keysWithoutMaterial, orphans);
  }
}
