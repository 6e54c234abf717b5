package dev.keyhold.kms.metadata;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The metadata store on the database the build chose ({@link TestMetadata}): H2, or a real PostgreSQL. */
class JdbcMetadataStoreTest {
  @TempDir Path data;

  @Test
  void migratesTheSchemaIntoTheDatabase() {
    try (JdbcMetadataStore store = TestMetadata.open(data)) {
      assertThat(count(store, "SELECT COUNT(*) FROM custom_key_stores")).isZero();
      assertThat(count(store, "SELECT COUNT(*) FROM kms_keys")).isZero();
    }
    assertThat(Files.exists(data.resolve("keyhold.mv.db"))).isEqualTo(!TestMetadata.onPostgresql());
  }

  @Test
  void aFailedTransactionLeavesNothingBehind() {
    try (JdbcMetadataStore store = TestMetadata.open(data)) {
      assertThatThrownBy(() -> store.inTransaction(connection -> {
        try (Statement statement = connection.createStatement()) {
          statement.executeUpdate("INSERT INTO custom_key_stores VALUES ('cks-1', 'n', 'cluster-aaaaaaaaaaa', 'pem', "
              + "'DISCONNECTED', NULL, 0, 1, 'sealed', NULL)");
        }
        throw new IllegalStateException("crash between two steps");
      })).hasMessage("crash between two steps");
      assertThat(count(store, "SELECT COUNT(*) FROM custom_key_stores")).isZero();
    }
  }

  @Test
  void committedWorkSurvivesReopening() {
    try (JdbcMetadataStore store = TestMetadata.open(data)) {
      store.inTransaction(connection -> {
        try (Statement statement = connection.createStatement()) {
          return statement.executeUpdate("INSERT INTO custom_key_stores VALUES ('cks-1', 'n', 'cluster-aaaaaaaaaaa', "
              + "'pem', 'DISCONNECTED', NULL, 0, 1, 'sealed', NULL)");
        }
      });
    }
    try (JdbcMetadataStore store = TestMetadata.open(data)) {
      assertThat(count(store, "SELECT COUNT(*) FROM custom_key_stores")).isEqualTo(1);
    }
  }

  @Test
  void aBrokenStatementIsAMetadataException() {
    try (JdbcMetadataStore store = TestMetadata.open(data)) {
      assertThatThrownBy(() -> count(store, "SELECT nonsense FROM nowhere")).isInstanceOf(MetadataException.class);
    }
  }

  private static int count(MetadataStore store, String sql) {
    return store.inTransaction(connection -> {
      try (Statement statement = connection.createStatement(); ResultSet rows = statement.executeQuery(sql)) {
        rows.next();
        return rows.getInt(1);
      }
    });
  }
}
