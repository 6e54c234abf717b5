package dev.keyhold.kms.key;

import java.time.Instant;

/** A KMS key as the metadata store keeps it; {@code deletionDate} is set only while PendingDeletion. */
record KeyRecord(
    String keyId,
    String arn,
    String keyStoreId,
    String clusterId,
    String description,
    KeyState state,
    Instant creationDate,
    String origin,
    Instant deletionDate) {

  KeyRecord withState(KeyState newState) {
    return new KeyRecord(keyId, arn, keyStoreId, clusterId, description, newState, creationDate, origin, null);
  }

  KeyRecord withDeletionOn(Instant date) {
    return new KeyRecord(keyId, arn, keyStoreId, clusterId, description, KeyState.PendingDeletion, creationDate,
        origin, date);
  }

  KeyRecord withDescription(String newDescription) {
    return new KeyRecord(keyId, arn, keyStoreId, clusterId, newDescription, state, creationDate, origin,
        deletionDate);
  }
}
