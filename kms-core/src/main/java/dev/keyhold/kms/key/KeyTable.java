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
      statement.setString(8, key.origin().name());
      setDeletionDate(statement, 9, key);
      statement.executeUpdate();
    }
  }

  /**
   * Writes the key's state, description and deletion date; the caller holds the row ({@link #lockById}).
   *
   * @throws SQLException if the key has no finished record (it would be a lost write, never a silent one)
   */
  static void update(Connection connection, KeyRecord key) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("UPDATE kms_keys SET key_state = ?, "
        + "description = ?, deletion_date = ? WHERE key_id = ? AND key_state <> 'Creating'")) {
      statement.setString(1, key.state().name());
      statement.setString(2, key.description());
      setDeletionDate(statement, 3, key);
      statement.setString(4, key.keyId());
      if (statement.executeUpdate() != 1) {
        throw new SQLException("no record of " + key.keyId() + " to update");
      }
    }
  }

  /**
   * The key's finished record as it is now, its row locked until the transaction ends, so that a
   * decision taken on it cannot race a change or a deletion (on this node or another).
   */
  static Optional<KeyRecord> lockById(Connection connection, String keyId) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT " + COLUMNS + " FROM kms_keys WHERE key_id = ? AND key_state <> 'Creating' FOR UPDATE")) {
      statement.setString(1, keyId);
      try (ResultSet rows = statement.executeQuery()) {
        return rows.next() ? Optional.of(read(rows)) : Optional.empty();
      }
    }
  }

  /**
   * Keys of {@code keyStoreId} whose CreateKey never finished and whose lease has ended: the crash
   * rollback's candidates. A snapshot; each is rolled back only after its lease is revoked.
   */
  static ImmutableList<KeyRecord> creatingWithEndedLease(Connection connection, String keyStoreId)
      throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT " + COLUMNS + " FROM kms_keys "
        + "WHERE key_store_id = ? AND key_state = 'Creating' AND " + CreateKeyLeases.ENDED)) {
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

  /** Keys whose waiting period ended at or before {@code now}: a snapshot, see {@link #deleteIfDue}. */
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

  /**
   * Deletes the key's record if it is still PendingDeletion and due at {@code now}, deciding on the
   * row as it is now: a CancelKeyDeletion that came first wins. Aliases, tags and policy go with it.
   */
  static boolean deleteIfDue(Connection connection, String keyId, Instant now) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("DELETE FROM kms_keys WHERE key_id = ? "
        + "AND key_state = 'PendingDeletion' AND deletion_date <= ?")) {
      statement.setString(1, keyId);
      statement.setLong(2, now.toEpochMilli());
      return statement.executeUpdate() == 1;
    }
  }

  /** Records that a deleted key's material on one HSM is still to be destroyed (status PENDING). */
  static void recordPendingDeletion(Connection connection, KeyRecord key, String hsmId, Instant when)
      throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("INSERT INTO key_material_deletions "
        + "(key_id, arn, key_store_id, hsm_id, status, detail, deleted_at) VALUES (?, ?, ?, ?, 'PENDING', ?, ?)")) {
      statement.setString(1, key.keyId());
      statement.setString(2, key.arn());
      statement.setString(3, key.keyStoreId());
      statement.setString(4, hsmId);
      statement.setString(5, "to be destroyed");
      statement.setLong(6, when.toEpochMilli());
      statement.executeUpdate();
    }
  }

  /** A deleted key's material that is still to be destroyed on one HSM. */
  record UnfinishedDeletion(String keyId, String arn, String hsmId) {}

  /**
   * Deletions the reconciler should finish: those that failed, and those still PENDING since before
   * {@code abandonedBefore} (their deleter died; a younger one is most likely still at work).
   */
  static ImmutableList<UnfinishedDeletion> unfinishedDeletions(Connection connection, String keyStoreId,
      Instant abandonedBefore) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT key_id, arn, hsm_id FROM "
        + "key_material_deletions WHERE key_store_id = ? AND (status = 'FAILURE' OR (status = 'PENDING' AND "
        + "deleted_at < ?)) ORDER BY deleted_at, key_id")) {
      statement.setString(1, keyStoreId);
      statement.setLong(2, abandonedBefore.toEpochMilli());
      try (ResultSet rows = statement.executeQuery()) {
        ImmutableList.Builder<UnfinishedDeletion> unfinished = ImmutableList.builder();
        while (rows.next()) {
          unfinished.add(new UnfinishedDeletion(rows.getString(1), rows.getString(2), rows.getString(3)));
        }
        return unfinished.build();
      }
    }
  }

  /**
   * Records what became of one HSM's copy of a deleted key's material (SUCCESS, ABSENT or FAILURE),
   * only while it is unfinished: the first to finish it is the one recorded.
   */
  static void finishDeletion(Connection connection, String keyId, String hsmId, MaterialDeletion outcome,
      Instant when) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("UPDATE key_material_deletions SET status = ?, "
        + "detail = ?, deleted_at = ? WHERE key_id = ? AND hsm_id = ? AND status IN ('PENDING', 'FAILURE')")) {
      String detail = outcome.detail();
      statement.setString(1, outcome.status().name());
      statement.setString(2, detail.length() > 512 ? detail.substring(0, 512) : detail);
      statement.setLong(3, when.toEpochMilli());
      statement.setString(4, keyId);
      statement.setString(5, hsmId);
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
    return oldest(connection, 0); // JDBC's "no limit"
  }

  /** The first {@code limit} keys of {@link #all}, reading no row past them. */
  static ImmutableList<KeyRecord> oldest(Connection connection, int limit) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT " + COLUMNS + " FROM kms_keys WHERE key_state <> 'Creating' ORDER BY creation_date, key_id")) {
      statement.setMaxRows(limit);
      try (ResultSet rows = statement.executeQuery()) {
        ImmutableList.Builder<KeyRecord> keys = ImmutableList.builder();
        while (rows.next()) {
          keys.add(read(rows));
        }
        return keys.build();
      }
    }
  }

  private static KeyRecord read(ResultSet row) throws SQLException {
    long deletion = row.getLong(9);
    Instant deletionDate = row.wasNull() ? null : Instant.ofEpochMilli(deletion); // before any other column is read
    return new KeyRecord(row.getString(1), row.getString(2), row.getString(3), row.getString(4), row.getString(5),
        KeyState.valueOf(row.getString(6)), Instant.ofEpochMilli(row.getLong(7)), Origin.valueOf(row.getString(8)), deletionDate);
  }
}
