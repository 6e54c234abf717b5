package dev.keyhold.kms.metadata;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.postgres.ThrowawayPostgres;
import java.nio.file.Path;
import java.time.Duration;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A role is held by one node at a time among the nodes on one real PostgreSQL, and moves to another
 * node when its holder dies or loses the database. Always on PostgreSQL: an embedded store has one
 * process, which always holds every role.
 */
class BackgroundRoleTest {
  private static final String ROLE = "keyhold_background";

  @Test
  void oneNodeHoldsTheRoleAndAnotherTakesItWhenTheHolderDies() throws InterruptedException {
    String url = ThrowawayPostgres.forThisJvm().newDatabase();
    try (JdbcMetadataStore b = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "");
        JdbcMetadataStore c = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "")) {
      try (JdbcMetadataStore a = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "")) {
        assertThat(a.holdsRole(ROLE)).isTrue();
        assertThat(a.holdsRole(ROLE)).isTrue();
        assertThat(b.holdsRole(ROLE)).isFalse();
        assertThat(c.holdsRole(ROLE)).isFalse();
      } // a stops: its session, and the lock, end

      assertThat(b.holdsRole(ROLE)).isTrue();
      assertThat(c.holdsRole(ROLE)).isFalse();

      terminateRoleConnections(c); // b loses the database under it
      awaitRole(c); // the lock goes once b's session has ended, which the signal only starts
      assertThat(b.holdsRole(ROLE)).isFalse();
    }
  }

  @Test
  void aReleasedRoleGoesToTheNextNodeThatAsks() {
    String url = ThrowawayPostgres.forThisJvm().newDatabase();
    try (JdbcMetadataStore a = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "");
        JdbcMetadataStore b = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "")) {
      assertThat(a.holdsRole("keyhold_connect_cks-1")).isTrue();
      assertThat(b.holdsRole("keyhold_connect_cks-1")).isFalse();
      assertThat(b.holdsRole(ROLE)).as("another role is another lock").isTrue();

      a.releaseRole("keyhold_connect_cks-1");

      assertThat(b.holdsRole("keyhold_connect_cks-1")).isTrue();
      assertThat(a.holdsRole("keyhold_connect_cks-1")).isFalse();
      assertThat(b.holdsRole(ROLE)).as("releasing one role keeps the others").isTrue();
    }
  }

  @Test
  void anEmbeddedStoreAlwaysHoldsItsRoles(@TempDir Path data) {
    try (JdbcMetadataStore embedded = JdbcMetadataStore.embedded(data)) {
      assertThat(embedded.holdsRole(ROLE)).isTrue();
    }
  }

  private static void awaitRole(MetadataStore node) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (!node.holdsRole(ROLE)) {
      assertThat(System.nanoTime()).as("the role moved in time").isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  private static void terminateRoleConnections(MetadataStore metadata) {
    int terminated = metadata.inTransaction(connection -> {
      try (Statement statement = connection.createStatement();
          ResultSet rows = statement.executeQuery("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
              + "WHERE application_name = '" + RoleLocks.APPLICATION_NAME + "' AND pid <> pg_backend_pid()")) {
        rows.next();
        return rows.getInt(1);
      }
    });
    assertThat(terminated).isPositive();
  }
}
