package dev.keyhold.kms.key;

import dev.keyhold.pkcs11.AesKey;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.UUID;

/** A KMS key as the metadata store keeps it; {@code deletionDate} is set only while PendingDeletion. */
record KeyRecord(
    String keyId,
    String arn,
    String keyStoreId,
    String clusterId,
    String description,
    KeyState state,
    Instant creationDate,
    Origin origin,
    Instant deletionDate) {

  /** The key's material in an HSM: labelled with the key ARN, identified by the key id. */
  AesKey material() {
    return material(arn, keyId);
  }

  /**
   * The material of the key {@code keyId}: CKA_LABEL its ARN, CKA_ID the key id's 16 bytes, so that an
   * operator can find it by either.
   */
  static AesKey material(String arn, String keyId) {
    UUID uuid = UUID.fromString(keyId);
    return AesKey.of(arn, ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits())
        .putLong(uuid.getLeastSignificantBits()).array());
  }

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
