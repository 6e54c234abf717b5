package dev.keyhold.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;

/** The throwaway server is a real PostgreSQL that serves separate databases, and leaves nothing behind. */
class ThrowawayPostgresTest {
  @Test
  void servesARealPostgresqlAndCleansUp() throws Exception {
    // Not a JUnit temporary directory (mode 700): as root the server runs as postgres, which must reach it.
    Path directory = Files.createTempDirectory("keyhold-postgres-test-");
    String first;
    String second;
    try (ThrowawayPostgres server = ThrowawayPostgres.start(directory)) {
      first = server.newDatabase();
      second = server.newDatabase();
      try (Connection connection = DriverManager.getConnection(first, ThrowawayPostgres.USER, "");
          Statement statement = connection.createStatement();
          ResultSet version = statement.executeQuery("SELECT current_setting('server_version_num')::int")) {
        version.next();
        assertThat(version.getInt(1)).isGreaterThanOrEqualTo(150000);
      }
      assertThat(first).isNotEqualTo(second).startsWith("jdbc:postgresql://127.0.0.1:" + server.port() + "/");
    }
    assertThat(Files.exists(directory)).isFalse();
  }
}
