package dev.keyhold.app.operator;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.CredentialStore;
import dev.keyhold.server.auth.MetadataCredentials;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code bin/keyhold migrate --from-home DIR --config FILE}: moves an embedded home's metadata (its
 * H2 store) and its credentials ({@code credentials.json}) into the configured database, so that
 * nodes in operator mode serve it. The home's clusters file, master key and tokens keep serving: the
 * configuration names them (the master key must be the home's own).
 *
 * <p>Everything is copied in one transaction of the target: a kill in the middle leaves the target as
 * it was, and a second run, which finds the home's key stores there, changes nothing.
 */
public final class HomeMigration {
  /** The tables, parents before children. */
  private static final ImmutableList<String> TABLES = ImmutableList.of("custom_key_stores",
      "kmsuser_password_on_hsm", "kms_keys", "key_policies", "key_tags", "aliases", "key_material_deletions",
      "credentials");

  /** What a run did: the rows copied per table and the credentials moved, or nothing (already done). */
  public record Outcome(boolean alreadyMigrated, Map<String, Integer> rowsCopied, int credentialsMoved) {}

  private HomeMigration() {}

  public static Outcome migrate(Path home, NodeConfig config) {
    Path homeKey = home.resolve("data").resolve("master.key");
    checkArgument(sameFile(homeKey, config.masterKey()), "the configured master key %s is not the home's %s: "
        + "copy the home's to every node (what it sealed opens with it alone)", config.masterKey(), homeKey);
    MasterKey masterKey = MasterKey.load(config.masterKey());
    ImmutableList<Credential> credentials =
        CredentialStore.load(home.resolve("credentials.json"), masterKey).credentials();
    try (JdbcMetadataStore source = JdbcMetadataStore.embedded(home.resolve("data"));
        JdbcMetadataStore target = OperatorNode.openMetadata(config.metadata())) {
      Map<String, List<Map<String, Object>>> rows = source.inTransaction(c -> {
        Map<String, List<Map<String, Object>>> all = new LinkedHashMap<>();
        for (String table : TABLES) {
          all.put(table, rowsOf(c, table));
        }
        return all;
      });
      return target.inTransaction(c -> {
        if (count(c, "custom_key_stores") > 0 || count(c, "kms_keys") > 0) {
          List<Object> homeStores = rows.get("custom_key_stores").stream().map(row -> row.get("id")).toList();
          checkArgument(homeStores.stream().allMatch(id -> exists(c, id)),
              "the database already holds other key stores than the home's: migrate into an empty database");
          return new Outcome(true, Map.of(), 0);
        }
        Map<String, Integer> copied = new LinkedHashMap<>();
        for (String table : TABLES) {
          for (Map<String, Object> row : rows.get(table)) {
            insert(c, table, row);
          }
          copied.put(table, rows.get(table).size());
        }
        for (Credential credential : credentials) {
          MetadataCredentials.insert(c, credential, masterKey, System.currentTimeMillis());
        }
        return new Outcome(false, copied, credentials.size());
      });
    }
  }

  private static boolean sameFile(Path one, Path other) {
    try {
      return Files.mismatch(one, other) == -1;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot compare the master key files " + one + " and " + other, e);
    }
  }

  private static List<Map<String, Object>> rowsOf(Connection c, String table) throws SQLException {
    List<Map<String, Object>> rows = new ArrayList<>();
    try (Statement select = c.createStatement(); ResultSet result = select.executeQuery("SELECT * FROM " + table)) {
      ResultSetMetaData columns = result.getMetaData();
      while (result.next()) {
        Map<String, Object> row = new LinkedHashMap<>();
        for (int i = 1; i <= columns.getColumnCount(); i++) {
          row.put(columns.getColumnLabel(i).toLowerCase(Locale.ROOT), result.getObject(i));
        }
        rows.add(row);
      }
    }
    return rows;
  }

  private static void insert(Connection c, String table, Map<String, Object> row) throws SQLException {
    String names = String.join(", ", row.keySet());
    String marks = String.join(", ", row.keySet().stream().map(name -> "?").toList());
    try (PreparedStatement insert = c.prepareStatement("INSERT INTO " + table + " (" + names + ") VALUES (" + marks
        + ")")) {
      int i = 1;
      for (Object value : row.values()) {
        insert.setObject(i++, value);
      }
      insert.executeUpdate();
    }
  }

  private static int count(Connection c, String table) throws SQLException {
    try (Statement select = c.createStatement(); ResultSet rows = select.executeQuery("SELECT COUNT(*) FROM " + table)) {
      rows.next();
      return rows.getInt(1);
    }
  }

  private static boolean exists(Connection c, Object storeId) {
    try (PreparedStatement select = c.prepareStatement("SELECT 1 FROM custom_key_stores WHERE id = ?")) {
      select.setObject(1, storeId);
      try (ResultSet row = select.executeQuery()) {
        return row.next();
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read the key stores of the database", e);
    }
  }
}
