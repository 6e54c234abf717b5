package dev.keyhold.kms.metadata;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.postgres.ThrowawayPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * PostgreSQL stops and starts again under a node: its subscribers resynchronise once the node's pool
 * serves again, not as soon as the listener (which connects on its own) is back. A subscriber drops
 * its cache when it resynchronises, and the hot path reads the database at once; while the pool was
 * still backing off, those reads timed out with the database up (crypto calls failed right after an
 * outage). And a transaction on a connection that the outage broke fails as unreachable (answered
 * DependencyTimeoutException), not with the rollback's "Connection is closed" (answered as an internal
 * error). Always on PostgreSQL: an embedded store has no listener.
 */
class ListenerOutageTest {
  private static final String TOPIC = "keyhold_test_outage";

  @Test
  void subscribersResynchroniseOnceThePoolServesAgain() throws Exception {
    ThrowawayPostgres postgres = ThrowawayPostgres.forThisJvm();
    String url = postgres.newDatabase();
    try (JdbcMetadataStore store = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "")) {
      List<Integer> poolConnectionsAtResync = new CopyOnWriteArrayList<>();
      store.subscribe(TOPIC, message -> { }, () -> poolConnectionsAtResync.add(poolConnections(url)));
      awaitResyncs(poolConnectionsAtResync, 1); // when the listener started listening

      postgres.stopForAnOutage();
      try {
        awaitPoolTimeout(store); // from then on, the pool reconnects with a growing back-off
        Thread.sleep(2_000);
      } finally {
        postgres.startAgain();
      }

      awaitResyncs(poolConnectionsAtResync, 2);
      assertThat(poolConnectionsAtResync.get(1)).as("connections of the node's pool when it resynchronised")
          .isPositive();
      String served = store.inTransaction(c -> "served");
      assertThat(served).isEqualTo("served");
    }
  }

  /**
   * Reads until a read waits out the pool's timeout: the first reads fail on the pool's dead
   * connections, which the pool drops one by one.
   */
  private static void awaitPoolTimeout(MetadataStore store) {
    for (int attempt = 0; attempt < 20; attempt++) {
      try {
        store.inTransaction(c -> {
          try (Statement statement = c.createStatement()) {
            return statement.execute("SELECT 1");
          }
        });
      } catch (MetadataException e) {
        assertThat(e.unreachable()).as("the database is unreachable: %s", e).isTrue();
        if (e.getCause() instanceof SQLTransientConnectionException) {
          return;
        }
      }
    }
    throw new AssertionError("no read waited for the pool");
  }

  private static void awaitResyncs(List<Integer> resyncs, int count) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (resyncs.size() < count) {
      assertThat(System.nanoTime()).as("resynchronised %d times", count).isLessThan(deadline);
      Thread.sleep(50);
    }
  }

  /** The pool's connections to the database: neither the listener's nor the role locks' nor this one. */
  private static int poolConnections(String url) {
    try (Connection connection = DriverManager.getConnection(url, ThrowawayPostgres.USER, "");
        PreparedStatement count = connection.prepareStatement("SELECT COUNT(*) FROM pg_stat_activity "
            + "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name NOT IN (?, ?)")) {
      count.setString(1, PostgresListener.APPLICATION_NAME);
      count.setString(2, RoleLocks.APPLICATION_NAME);
      try (ResultSet rows = count.executeQuery()) {
        rows.next();
        return rows.getInt(1);
      }
    } catch (SQLException e) {
      throw new AssertionError("cannot count the pool's connections", e);
    }
  }
}
