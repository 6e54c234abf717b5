package dev.keyhold.kms.key;

import java.util.List;

/**
 * The health of a connected key store's cluster, from the reconciler's last pass: each HSM is ACTIVE
 * when it just computed a probe and DEGRADED when it did not (on a cluster that syncs its keys, which
 * Keyhold sees as one slot, also when the clusters file says it is not ACTIVE); the cluster is ACTIVE
 * when every HSM is ACTIVE and holds every key, UNAVAILABLE when no HSM answers, and DEGRADED in between.
 *
 * <p>It also reports what no pass can mend, as {@link KeyMaterialReport} finds it: the KMS keys whose
 * material no HSM holds (their calls fail with KMSInvalidStateException), and material labelled as
 * a KMS key of the account that no key owns. After a restore from backups taken at different moments,
 * these two lists name every key that does not simply work.
 */
public record ClusterHealth(String customKeyStoreId, String clusterId, State state, List<Hsm> hsms,
    List<String> keysWithoutMaterial, List<KeyMaterialReport.Orphan> orphanedMaterial) {
  public ClusterHealth {
    hsms = List.copyOf(hsms);
    keysWithoutMaterial = List.copyOf(keysWithoutMaterial);
    orphanedMaterial = List.copyOf(orphanedMaterial);
  }

  /** Health states, as the AWS KMS external key store proxy API names them. */
  public enum State {
    ACTIVE,
    DEGRADED,
    UNAVAILABLE
  }

  /**
   * One HSM: its state and how many of the store's KMS keys it lacks (as of the last time it could be
   * listed; all of them if it never could).
   */
  public record Hsm(String hsmId, State state, int keysMissing) {}
}
