package dev.keyhold.kms.keystore;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.keyhold.kms.secret.SealedSecret;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.Optional;

/** The SQL of key stores (tables in {@code V1__custom_key_stores.sql}); every method runs in the caller's transaction. */
final class KeyStoreTable {
  private static final String COLUMNS = "id, name, cluster_id, trust_anchor_certificate, connection_state, "
      + "connection_error_code, creation_date, password_version, sealed_password, sealed_pending_password";

  private KeyStoreTable() {}

  static void insert(Connection connection, KeyStoreRecord store) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "INSERT INTO custom_key_stores (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
      bind(statement, store, 1);
      statement.executeUpdate();
    }
  }

  static void update(Connection connection, KeyStoreRecord store) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "UPDATE custom_key_stores SET id = ?, name = ?, cluster_id = ?, trust_anchor_certificate = ?, "
            + "connection_state = ?, connection_error_code = ?, creation_date = ?, password_version = ?, "
            + "sealed_password = ?, sealed_pending_password = ? WHERE id = ?")) {
      bind(statement, store, 1);
      statement.setString(11, store.id);
      statement.executeUpdate();
    }
  }

  static void delete(Connection connection, String id) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("DELETE FROM custom_key_stores WHERE id = ?")) {
      statement.setString(1, id);
      statement.executeUpdate();
    }
  }

  static Optional<KeyStoreRecord> byId(Connection connection, String id) throws SQLException {
    return first(connection, "SELECT " + COLUMNS + " FROM custom_key_stores WHERE id = ?", id);
  }

  /**
   * The store as it is now, its row locked until the transaction ends: the read that decides a write,
   * so the write is a compare-and-set on the row, whichever node races it.
   */
  static Optional<KeyStoreRecord> lockById(Connection connection, String id) throws SQLException {
    return first(connection, "SELECT " + COLUMNS + " FROM custom_key_stores WHERE id = ? FOR UPDATE", id);
  }

  static Optional<KeyStoreRecord> byName(Connection connection, String name) throws SQLException {
    return first(connection, "SELECT " + COLUMNS + " FROM custom_key_stores WHERE name = ?", name);
  }

  /** Every key store, oldest first (ties by id), the order DescribeCustomKeyStores pages through. */
  static ImmutableList<KeyStoreRecord> all(Connection connection) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT " + COLUMNS + " FROM custom_key_stores ORDER BY creation_date, id");
        ResultSet rows = statement.executeQuery()) {
      ImmutableList.Builder<KeyStoreRecord> stores = ImmutableList.builder();
      while (rows.next()) {
        stores.add(read(rows));
      }
      return stores.build();
    }
  }

  /** KMS keys recorded in the store, in any state (PendingDeletion and Creating too). */
  static int countKeys(Connection connection, String id) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT COUNT(*) FROM kms_keys WHERE key_store_id = ?")) {
      statement.setString(1, id);
      try (ResultSet rows = statement.executeQuery()) {
        rows.next();
        return rows.getInt(1);
      }
    }
  }

  /** Which password version each HSM is known to hold during a rotation. */
  static ImmutableMap<String, Integer> passwordVersionsOnHsms(Connection connection, String id) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT hsm_id, password_version FROM kmsuser_password_on_hsm WHERE key_store_id = ?")) {
      statement.setString(1, id);
      try (ResultSet rows = statement.executeQuery()) {
        ImmutableMap.Builder<String, Integer> versions = ImmutableMap.builder();
        while (rows.next()) {
          versions.put(rows.getString(1), rows.getInt(2));
        }
        return versions.build();
      }
    }
  }

  static void setPasswordVersionOnHsm(Connection connection, String id, String hsmId, int version)
      throws SQLException {
    forgetPasswordVersionOnHsm(connection, id, hsmId);
    try (PreparedStatement insert = connection.prepareStatement(
        "INSERT INTO kmsuser_password_on_hsm (key_store_id, hsm_id, password_version) VALUES (?, ?, ?)")) {
      insert.setString(1, id);
      insert.setString(2, hsmId);
      insert.setInt(3, version);
      insert.executeUpdate();
    }
  }

  /** The HSM's password is about to change: until recorded again, it may hold either version. */
  static void forgetPasswordVersionOnHsm(Connection connection, String id, String hsmId) throws SQLException {
    try (PreparedStatement delete = connection.prepareStatement(
        "DELETE FROM kmsuser_password_on_hsm WHERE key_store_id = ? AND hsm_id = ?")) {
      delete.setString(1, id);
      delete.setString(2, hsmId);
      delete.executeUpdate();
    }
  }

  static void clearPasswordVersionsOnHsms(Connection connection, String id) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "DELETE FROM kmsuser_password_on_hsm WHERE key_store_id = ?")) {
      statement.setString(1, id);
      statement.executeUpdate();
    }
  }

  private static Optional<KeyStoreRecord> first(Connection connection, String sql, String parameter)
      throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(sql)) {
      statement.setString(1, parameter);
      try (ResultSet rows = statement.executeQuery()) {
        return rows.next() ? Optional.of(read(rows)) : Optional.empty();
      }
    }
  }

  private static void bind(PreparedStatement statement, KeyStoreRecord store, int first) throws SQLException {
    statement.setString(first, store.id);
    statement.setString(first + 1, store.name);
    statement.setString(first + 2, store.clusterId);
    statement.setString(first + 3, store.trustAnchorCertificate);
    statement.setString(first + 4, store.state.name());
    if (store.errorCode == null) {
      statement.setNull(first + 5, Types.VARCHAR);
    } else {
      statement.setString(first + 5, store.errorCode.name());
    }
    statement.setLong(first + 6, store.creationDate.toEpochMilli());
    statement.setInt(first + 7, store.passwordVersion);
    statement.setString(first + 8, store.password.toBase64());
    if (store.pendingPassword == null) {
      statement.setNull(first + 9, Types.VARCHAR);
    } else {
      statement.setString(first + 9, store.pendingPassword.toBase64());
    }
  }

  private static KeyStoreRecord read(ResultSet row) throws SQLException {
    String errorCode = row.getString(6);
    String pending = row.getString(10);
    return new KeyStoreRecord(
        row.getString(1),
        row.getString(2),
        row.getString(3),
        row.getString(4),
        ConnectionState.valueOf(row.getString(5)),
        errorCode == null ? null : ConnectionErrorCode.valueOf(errorCode),
        Instant.ofEpochMilli(row.getLong(7)),
        row.getInt(8),
        SealedSecret.fromBase64(row.getString(9)),
        pending == null ? null : SealedSecret.fromBase64(pending));
  }
}
