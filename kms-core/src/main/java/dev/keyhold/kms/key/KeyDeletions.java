package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.Validation.violated;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Clusters;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Validation.Rule;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.pkcs11.Token;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * ScheduleKeyDeletion, CancelKeyDeletion, and the deletion of keys whose waiting period has ended,
 * with their material on every HSM.
 */
public final class KeyDeletions {
  /** The HSM of a deletion whose cluster is not in the clusters file. */
  private static final String NO_HSM = "-";
  private static final int DEFAULT_WINDOW_DAYS = 30;

  private final MetadataStore metadata;
  private final KeyRecords keys;
  private final Clusters clusters;
  private final KeyStoreConnections connections;
  private final Clock clock;

  KeyDeletions(MetadataStore metadata, KeyRecords keys, Clusters clusters, KeyStoreConnections connections,
      Clock clock) {
    this.metadata = metadata;
    this.keys = keys;
    this.clusters = clusters;
    this.connections = connections;
    this.clock = clock;
  }

  /**
   * ScheduleKeyDeletion: the key becomes PendingDeletion for 7 to 30 days (default 30), after which
   * {@link #deleteDueKeys} deletes it and its material.
   */
  public ScheduleKeyDeletionResponse scheduleKeyDeletion(String keyId, Integer pendingWindowInDays) {
    int days = pendingWindowInDays == null ? DEFAULT_WINDOW_DAYS : pendingWindowInDays;
    if (days < 7 || days > 30) {
      throw violated(Rule.PENDING_WINDOW);
    }
    Instant deletionDate = clock.instant().plus(Duration.ofDays(days)).truncatedTo(ChronoUnit.MILLIS);
    KeyRecord pending = keys.change(keyId, key -> KmsKeys.notPendingDeletion(key).withDeletionOn(deletionDate));
    return new ScheduleKeyDeletionResponse(pending.arn(), pending.deletionDate(), KeyState.PendingDeletion, days);
  }

  /** CancelKeyDeletion: the key comes back Disabled. */
  public String cancelKeyDeletion(String keyId) {
    return keys.change(keyId, key -> {
      if (key.state() != KeyState.PendingDeletion) {
        throw new KmsException(KMSInvalidStateException, key.arn() + " is not pending deletion.");
      }
      return key.withState(KeyState.Disabled);
    }).arn();
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
      if (claim(key, now)) {
        Map<String, MaterialDeletion> outcomes = destroyMaterial(key);
        metadata.inTransaction(c -> {
          for (Map.Entry<String, MaterialDeletion> outcome : outcomes.entrySet()) {
            KeyTable.finishDeletion(c, key.keyId(), outcome.getKey(), outcome.getValue(), now);
          }
          return null;
        });
        deleted.add(key.arn());
      }
    }
    return deleted;
  }

  private boolean claim(KeyRecord key, Instant now) {
    List<String> hsmIds = clusters.current().find(key.clusterId()).map(cluster -> cluster.hsms().stream().map(Hsm::hsmId)
        .toList()).orElse(List.of(NO_HSM));
    boolean claimed = metadata.inTransaction(c -> {
      if (!KeyTable.deleteIfDue(c, key.keyId(), now)) {
        return false;
      }
      for (String hsmId : hsmIds) {
        KeyTable.recordPendingDeletion(c, key, hsmId, now);
      }
      keys.changed(c, key.keyId());
      return true;
    });
    return claimed;
  }

  /** Destroys {@code key}'s material on every HSM of its cluster; what happened, by HSM id. */
  Map<String, MaterialDeletion> destroyMaterial(KeyRecord key) {
    Map<String, MaterialDeletion> outcomes = new LinkedHashMap<>();
    Optional<ConnectedStore> logins = connections.connected(key.keyStoreId());
    Cluster cluster = clusters.current().find(key.clusterId()).orElse(null);
    if (cluster == null) {
      outcomes.put(NO_HSM, MaterialDeletion.failure("cluster " + key.clusterId() + " is not in the clusters file"));
      return outcomes;
    }
    for (Hsm hsm : cluster.hsms()) {
      Token token = logins.map(l -> l.tokens().get(hsm.hsmId())).orElse(null);
      outcomes.put(hsm.hsmId(), token == null
          ? MaterialDeletion.failure("not logged in (key store disconnected or HSM inactive)")
          : MaterialDeletion.destroy(token, key.material()));
    }
    return outcomes;
  }
}
