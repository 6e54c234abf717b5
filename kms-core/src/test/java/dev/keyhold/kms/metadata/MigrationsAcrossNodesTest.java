package dev.keyhold.kms.metadata;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.kms.policy.AccountPrincipal;
import dev.keyhold.kms.policy.Authorizer;
import dev.keyhold.kms.policy.IdentityPolicies;
import dev.keyhold.kms.policy.Principal;
import dev.keyhold.postgres.ThrowawayPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What docs/deployment.md promises of upgrades with several nodes on one PostgreSQL: nodes that start
 * at once migrate the schema once, and a node of an older release, which knows fewer migrations,
 * still starts on the migrated schema; and what a migration turns an older database's rows into.
 */
class MigrationsAcrossNodesTest {
  @TempDir Path older;

  @Test
  void nodesStartingAtOnceMigrateTheSchemaOnce() throws Exception {
    String url = ThrowawayPostgres.forThisJvm().newDatabase();
    ExecutorService nodes = Executors.newFixedThreadPool(4);
    List<Future<JdbcMetadataStore>> opened = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      opened.add(nodes.submit(() -> JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "")));
    }
    for (Future<JdbcMetadataStore> node : opened) {
      node.get(60, TimeUnit.SECONDS).close();
    }
    nodes.shutdown();

    try (Connection connection = DriverManager.getConnection(url, ThrowawayPostgres.USER, "");
        Statement statement = connection.createStatement();
        ResultSet history = statement.executeQuery(
            "SELECT version, COUNT(*), BOOL_AND(success) FROM flyway_schema_history GROUP BY version")) {
      int versions = 0;
      while (history.next()) {
        versions++;
        assertThat(history.getInt(2)).as("version %s applied once", history.getString(1)).isEqualTo(1);
        assertThat(history.getBoolean(3)).isTrue();
      }
      assertThat(versions).isEqualTo(migrationsOfThisRelease().size());
    }
  }

  @Test
  void aNodeOfTheReleaseBeforeStartsOnTheMigratedSchema() throws IOException, SQLException {
    String url = ThrowawayPostgres.forThisJvm().newDatabase();
    JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "").close();
    List<String> migrations = migrationsOfThisRelease();
    for (String migration : migrations.subList(0, migrations.size() - 1)) {
      try (InputStream sql = getClass().getResourceAsStream("/db/migration/" + migration)) {
        Files.copy(sql, older.resolve(migration));
      }
    }

    // The older release's migrate, with the defaults JdbcMetadataStore uses.
    var outcome = Flyway.configure().dataSource(url, ThrowawayPostgres.USER, "")
        .locations("filesystem:" + older).load().migrate();

    assertThat(outcome.success).isTrue();
    assertThat(outcome.migrationsExecuted).isZero();
  }

  @Test
  void anAdministratorOfTheReleaseBeforeHasTheAdministratorPolicy() throws IOException, SQLException {
    String url = ThrowawayPostgres.forThisJvm().newDatabase();
    List<String> migrations = migrationsOfThisRelease();
    int identityPolicies = migrations.indexOf("V9__identity_policies.sql");
    for (String migration : migrations.subList(0, identityPolicies)) {
      try (InputStream sql = getClass().getResourceAsStream("/db/migration/" + migration)) {
        Files.copy(sql, older.resolve(migration));
      }
    }
    Flyway.configure().dataSource(url, ThrowawayPostgres.USER, "").locations("filesystem:" + older).load().migrate();
    try (Connection connection = DriverManager.getConnection(url, ThrowawayPostgres.USER, "");
        Statement statement = connection.createStatement()) {
      statement.executeUpdate("INSERT INTO credentials (access_key_id, principal_arn, administrator, sealed_secret, "
          + "state, creation_date) VALUES ('AKIAADMIN0000000', 'arn:aws:iam::111122223333:user/ops', TRUE, 'x', "
          + "'Active', 0), ('AKIAAPP00000000', 'arn:aws:iam::111122223333:user/app', FALSE, 'x', 'Active', 0)");
    }

    try (JdbcMetadataStore migrated = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "")) {
      IdentityPolicies policies = new IdentityPolicies(migrated);
      Authorizer authorizer = new Authorizer(policies, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES);
      assertThat(policies.names("arn:aws:iam::111122223333:user/ops")).containsExactly(IdentityPolicies.ADMINISTRATOR);
      assertThat(policies.names("arn:aws:iam::111122223333:user/app")).isEmpty();
      authorizer.authorizeWithoutKey(new Principal("arn:aws:iam::111122223333:user/ops", "111122223333"),
          "kms:ConnectCustomKeyStore", "arn:aws:kms:us-east-1:111122223333:*", true);
    }
  }

  /** The migrations kms-core ships, in order. */
  private static List<String> migrationsOfThisRelease() throws IOException {
    try (var files = Files.list(Path.of("src", "main", "resources", "db", "migration"))) {
      return files.map(file -> file.getFileName().toString()).filter(name -> name.matches("V\\d+__.*\\.sql"))
          .sorted((a, b) -> Integer.compare(version(a), version(b))).toList();
    }
  }

  private static int version(String migration) {
    return Integer.parseInt(migration.substring(1, migration.indexOf("__")));
  }
}
