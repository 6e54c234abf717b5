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
      "key_id, arn, key_store_id, cluster_id, description, key_state, creation_date, origin";

  private KeyTable() {}

  static void insert(Connection connection, KeyRecord key) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "INSERT INTO kms_keys (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
      statement.setString(1, key.keyId());
      statement.setString(2, key.arn());
      statement.setString(3, key.keyStoreId());
      statement.setString(4, key.clusterId());
      statement.setString(5, key.description());
      statement.setString(6, key.state().name());
      statement.setLong(7, key.creationDate().toEpochMilli());
      statement.setString(8, key.origin());
      statement.executeUpdate();
    }
  }

  static void updateState(Connection connection, String keyId, KeyState state) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "UPDATE kms_keys SET key_state = ? WHERE key_id = ?")) {
      statement.setString(1, state.name());
      statement.setString(2, keyId);
      statement.executeUpdate();
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

  /** Every key, oldest first (ties by id): the order ListKeys pages through. */
  static ImmutableList<KeyRecord> all(Connection connection) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT " + COLUMNS + " FROM kms_keys ORDER BY creation_date, key_id");
        ResultSet rows = statement.executeQuery()) {
      ImmutableList.Builder<KeyRecord> keys = ImmutableList.builder();
      while (rows.next()) {
        keys.add(read(rows));
      }
      return keys.build();
    }
  }

  private static KeyRecord read(ResultSet row) throws SQLException {
    return new KeyRecord(row.getString(1), row.getString(2), row.getString(3), row.getString(4), row.getString(5),
        KeyState.valueOf(row.getString(6)), Instant.ofEpochMilli(row.getLong(7)), row.getString(8));
  }
}
