package dev.keyhold.kms.key;

import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.MetadataStore;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rolls back every CreateKey that a crash (or a hung HSM) interrupted, on any node: a Creating record
 * whose lease has ended ({@link CreateKeyLeases}). Each is decided on its row as it is now: its lease
 * is revoked first, so its CreateKey can no longer complete, then its material, if any, is destroyed
 * on every HSM and the record removed. The caller never got the key id, so nothing can depend on it.
 * Runs whenever a store connects, and in every reconciler pass.
 */
final class CreateKeyRollback {
  private static final Logger LOG = LoggerFactory.getLogger(CreateKeyRollback.class);

  private final MetadataStore metadata;
  private final CreateKeyLeases leases;
  private final KeyDeletions deletions;
  private final Checkpoints checkpoints;

  CreateKeyRollback(MetadataStore metadata, CreateKeyLeases leases, KeyDeletions deletions, Checkpoints checkpoints) {
    this.metadata = metadata;
    this.leases = leases;
    this.deletions = deletions;
    this.checkpoints = checkpoints;
  }

  /** Rolls back the interrupted CreateKeys of {@code keyStoreId}; tells the checkpoint {@code rollback-listed}. */
  void run(String keyStoreId) {
    List<KeyRecord> candidates = metadata.inTransaction(c -> KeyTable.creatingWithEndedLease(c, keyStoreId));
    checkpoints.reached("rollback-listed");
    for (KeyRecord key : candidates) {
      if (!leases.revokeIfEnded(key.keyId())) {
        continue; // completed, or removed by another rollback, since the list was read
      }
      if (deletions.destroyMaterial(key).values().stream().anyMatch(MaterialDeletion::failed)) {
        continue; // an HSM could not be checked: the next connect or reconciler pass tries again
      }
      if (metadata.inTransaction(c -> CreateKeyLeases.deleteRevoked(c, key.keyId()))) {
        LOG.info("rolled back the interrupted CreateKey of {}", key.arn());
      }
    }
  }
}
