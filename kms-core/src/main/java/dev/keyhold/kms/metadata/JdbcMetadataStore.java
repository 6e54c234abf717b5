package dev.keyhold.kms.metadata;

import static com.google.common.base.Preconditions.checkNotNull;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Path;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.flywaydb.core.Flyway;

/**
 * {@link MetadataStore} over JDBC, with the schema migrated by Flyway at open
 * ({@code db/migration/V*.sql} in this module).
 */
public final class JdbcMetadataStore implements MetadataStore {
  private static final int MAX_ATTEMPTS = 6;
  /** Serialization failure and deadlock (PostgreSQL: 40001, 40P01; H2: 40001), and H2's concurrent update. */
  private static final Set<String> RETRYABLE_STATES = Set.of("40001", "40P01", "90131");
  private final HikariDataSource dataSource;

  private JdbcMetadataStore(HikariDataSource dataSource) {
    this.dataSource = dataSource;
  }

  /**
   * The embedded default: an H2 file database {@code keyhold.mv.db} in {@code dataDirectory}. Commits
   * reach the file before they return ({@code WRITE_DELAY=0}), so a killed process loses nothing it
   * committed.
   *
   * <p>H2 writes every commit after the end of the file and never into space that older versions
   * freed ({@code REUSE_SPACE=FALSE}): after a {@code kill -9}, H2's recovery could miss the newest
   * commits when they sat in reused space, and acknowledged keys and kmsuser password steps were lost
   * (the crash loop of docs/durability.md). The file therefore only grows while the store is open; it
   * is compacted each time the store opens.
   */
  public static JdbcMetadataStore embedded(Path dataDirectory) {
    Path base = checkNotNull(dataDirectory, "dataDirectory").toAbsolutePath().resolve("keyhold");
    String url = "jdbc:h2:file:" + base + ";WRITE_DELAY=0;REUSE_SPACE=FALSE";
    if (Files.exists(base.resolveSibling("keyhold.mv.db"))) {
      compact(url);
    }
    return open(url, "keyhold", "");
  }

  /** Rewrites the H2 file with only its live data; H2 does it in a new file that replaces the old at the end. */
  private static void compact(String url) {
    try (Connection connection = DriverManager.getConnection(url, "keyhold", "");
        Statement statement = connection.createStatement()) {
      statement.execute("SHUTDOWN COMPACT");
    } catch (SQLException e) {
      throw new MetadataException("cannot compact the metadata store at " + url, e);
    }
  }

  /** A database server, e.g. {@code jdbc:postgresql://host/keyhold}. */
  public static JdbcMetadataStore open(String url, String user, String password) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(url);
    config.setUsername(user);
    config.setPassword(password);
    config.setAutoCommit(false);
    config.setTransactionIsolation("TRANSACTION_SERIALIZABLE");
    config.setMaximumPoolSize(8);
    config.setPoolName("keyhold-metadata");
    HikariDataSource dataSource = new HikariDataSource(config);
    try {
      Flyway.configure().dataSource(dataSource).load().migrate();
    } catch (RuntimeException e) {
      dataSource.close();
      throw new MetadataException("cannot migrate the metadata schema at " + url, e);
    }
    return new JdbcMetadataStore(dataSource);
  }

  /**
   * {@inheritDoc}
   *
   * <p>A transaction that lost a race with another (a serialization failure or a deadlock, which
   * both databases detect) is run again from the start, a few times, after a short random pause.
   */
  @Override
  public <T> T inTransaction(Work<T> work) {
    for (int attempt = 1; ; attempt++) {
      try (Connection connection = dataSource.getConnection()) {
        try {
          T result = work.run(connection);
          connection.commit();
          return result;
        } catch (SQLException | RuntimeException e) {
          connection.rollback();
          throw e;
        }
      } catch (SQLException e) {
        if (attempt >= MAX_ATTEMPTS || !RETRYABLE_STATES.contains(String.valueOf(e.getSQLState()))) {
          throw new MetadataException("metadata transaction failed: " + e.getMessage(), e);
        }
      }
      pauseBeforeAttempt(attempt + 1);
    }
  }

  private static void pauseBeforeAttempt(int attempt) {
    try {
      Thread.sleep(ThreadLocalRandom.current().nextLong(1, 5L << attempt));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new MetadataException("interrupted before retrying a metadata transaction", e);
    }
  }

  @Override
  public void close() {
    dataSource.close();
  }

  @Override
  public String toString() {
    return "JdbcMetadataStore[" + dataSource.getJdbcUrl() + "]";
  }
}
