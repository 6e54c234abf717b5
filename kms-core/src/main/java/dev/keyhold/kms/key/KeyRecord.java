package dev.keyhold.kms.key;

import java.time.Instant;

/** A KMS key as the metadata store keeps it. */
record KeyRecord(
    String keyId,
    String arn,
    String keyStoreId,
    String clusterId,
    String description,
    KeyState state,
    Instant creationDate,
    String origin) {

  KeyRecord withState(KeyState newState) {
    return new KeyRecord(keyId, arn, keyStoreId, clusterId, description, newState, creationDate, origin);
  }
}
