package dev.keyhold.kms.key;

import com.google.common.collect.ImmutableList;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Optional;

/** The SQL of KMS keys (table in {@code V2__kms_keys.sql}); every method runs in the caller's transaction. */
final class KeyTable {
  private static final String COLUMNS =
      "key_id, arn, key_store_id, cluster_id, description, key_state, creation_date, origin, deletion_date";

  private KeyTable() {}

  static void insert(Connection connection, KeyRecord key) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "INSERT INTO kms_keys (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
      statement.setString(1, key.keyId());
      statement.setString(2, key.arn());
      statement.setString(3, key.keyStoreId());
      statement.setString(4, key.clusterId());
      statement.setString(5, key.description());
      statement.setString(6, key.state().name());
      statement.setLong(7, key.creationDate().toEpochMilli());
      statement.setString(8, key.origin());
      setDeletionDate(statement, 9, key);
      statement.executeUpdate();
    }
  }

  /** Writes the key's state, description and deletion date. */
  static void update(Connection connection, KeyRecord key) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "UPDATE kms_keys SET key_state = ?, description = ?, deletion_date = ? WHERE key_id = ?")) {
      statement.setString(1, key.state().name());
      statement.setString(2, key.description());
      setDeletionDate(statement, 3, key);
      statement.setString(4, key.keyId());
      statement.executeUpdate();
    }
  }

  /** Keys of {@code keyStoreId} whose CreateKey never finished. */
  static ImmutableList<KeyRecord> creating(Connection connection, String keyStoreId) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT " + COLUMNS + " FROM kms_keys WHERE key_store_id = ? AND key_state = 'Creating'")) {
      statement.setString(1, keyStoreId);
      try (ResultSet rows = statement.executeQuery()) {
        ImmutableList.Builder<KeyRecord> keys = ImmutableList.builder();
        while (rows.next()) {
          keys.add(read(rows));
        }
        return keys.build();
      }
    }
  }

  /** Keys whose waiting period ended at or before {@code now}. */
  static ImmutableList<KeyRecord> dueForDeletion(Connection connection, Instant now) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT " + COLUMNS
        + " FROM kms_keys WHERE key_state = 'PendingDeletion' AND deletion_date <= ? ORDER BY deletion_date")) {
      statement.setLong(1, now.toEpochMilli());
      try (ResultSet rows = statement.executeQuery()) {
        ImmutableList.Builder<KeyRecord> keys = ImmutableList.builder();
        while (rows.next()) {
          keys.add(read(rows));
        }
        return keys.build();
      }
    }
  }

  /** Records what became of one HSM's copy of a deleted key's material. */
  static void recordMaterialDeletion(Connection connection, KeyRecord key, String hsmId, String status,
      String detail, Instant when) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("INSERT INTO key_material_deletions "
        + "(key_id, arn, key_store_id, hsm_id, status, detail, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
      statement.setString(1, key.keyId());
      statement.setString(2, key.arn());
      statement.setString(3, key.keyStoreId());
      statement.setString(4, hsmId);
      statement.setString(5, status);
      statement.setString(6, detail.length() > 512 ? detail.substring(0, 512) : detail);
      statement.setLong(7, when.toEpochMilli());
      statement.executeUpdate();
    }
  }

  /** A deleted key's material that could not be destroyed on one HSM, for the reconciler to finish. */
  record UnfinishedDeletion(String keyId, String arn, String hsmId) {}

  static ImmutableList<UnfinishedDeletion> unfinishedDeletions(Connection connection, String keyStoreId)
      throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT key_id, arn, hsm_id FROM "
        + "key_material_deletions WHERE key_store_id = ? AND status = 'FAILURE' ORDER BY deleted_at, key_id")) {
      statement.setString(1, keyStoreId);
      try (ResultSet rows = statement.executeQuery()) {
        ImmutableList.Builder<UnfinishedDeletion> unfinished = ImmutableList.builder();
        while (rows.next()) {
          unfinished.add(new UnfinishedDeletion(rows.getString(1), rows.getString(2), rows.getString(3)));
        }
        return unfinished.build();
      }
    }
  }

  /** Records that a deletion left unfinished on one HSM is now done there. */
  static void finishDeletion(Connection connection, UnfinishedDeletion deletion, String status, String detail,
      Instant when) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("UPDATE key_material_deletions "
        + "SET status = ?, detail = ?, deleted_at = ? WHERE key_id = ? AND hsm_id = ?")) {
      statement.setString(1, status);
      statement.setString(2, detail);
      statement.setLong(3, when.toEpochMilli());
      statement.setString(4, deletion.keyId());
      statement.setString(5, deletion.hsmId());
      statement.executeUpdate();
    }
  }

  private static void setDeletionDate(PreparedStatement statement, int index, KeyRecord key) throws SQLException {
    if (key.deletionDate() == null) {
      statement.setNull(index, java.sql.Types.BIGINT);
    } else {
      statement.setLong(index, key.deletionDate().toEpochMilli());
    }
  }

  static void delete(Connection connection, String keyId) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("DELETE FROM kms_keys WHERE key_id = ?")) {
      statement.setString(1, keyId);
      statement.executeUpdate();
    }
  }

  static Optional<KeyRecord> byId(Connection connection, String keyId) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT " + COLUMNS + " FROM kms_keys WHERE key_id = ?")) {
      statement.setString(1, keyId);
      try (ResultSet rows = statement.executeQuery()) {
        return rows.next() ? Optional.of(read(rows)) : Optional.empty();
      }
    }
  }

  /** Every key whose CreateKey finished, oldest first (ties by id): the order ListKeys pages through. */
  static ImmutableList<KeyRecord> all(Connection connection) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT " + COLUMNS + " FROM kms_keys WHERE key_state <> 'Creating' ORDER BY creation_date, key_id");
        ResultSet rows = statement.executeQuery()) {
      ImmutableList.Builder<KeyRecord> keys = ImmutableList.builder();
      while (rows.next()) {
        keys.add(read(rows));
      }
      return keys.build();
    }
  }

  private static KeyRecord read(ResultSet row) throws SQLException {
    long deletion = row.getLong(9);
    return new KeyRecord(row.getString(1), row.getString(2), row.getString(3), row.getString(4), row.getString(5),
        KeyState.valueOf(row.getString(6)), Instant.ofEpochMilli(row.getLong(7)), row.getString(8),
        row.wasNull() ? null : Instant.ofEpochMilli(deletion));
  }
}
