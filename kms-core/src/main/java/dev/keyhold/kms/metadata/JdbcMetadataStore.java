package dev.keyhold.kms.metadata;

import static com.google.common.base.Preconditions.checkNotNull;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.ReentrantLock;
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
  /** Held around each transaction of the embedded store; null for a database server. */
  private final ReentrantLock oneAtATime;

  private JdbcMetadataStore(HikariDataSource dataSource, ReentrantLock oneAtATime) {
    this.dataSource = dataSource;
    this.oneAtATime = oneAtATime;
  }

  /**
   * The embedded default: an H2 file database {@code keyhold.mv.db} in {@code dataDirectory}. Commits
   * reach the file before they return ({@code WRITE_DELAY=0}), so a killed process loses nothing it
   * committed.
   *
   * <p>Its transactions run one at a time. H2's MVStore writes a commit to the file only if no other
   * thread wrote the store while the commit waited for it, and that other write may have caught the
   * transaction before it was marked committed: the commit is acknowledged, and a {@code kill -9} soon
   * after loses it (a crash loop of the service lost acknowledged keys and kmsuser password steps, and
   * once left a row lock that a restart spun on forever). With one transaction at a time, every commit
   * writes its own state. The embedded store serves one process, whose hot path reads no database.
   */
  public static JdbcMetadataStore embedded(Path dataDirectory) {
    Path base = checkNotNull(dataDirectory, "dataDirectory").toAbsolutePath().resolve("keyhold");
    return open("jdbc:h2:file:" + base + ";WRITE_DELAY=0", "keyhold", "", new ReentrantLock());
  }

  /** A database server, e.g. {@code jdbc:postgresql://host/keyhold}. */
  public static JdbcMetadataStore open(String url, String user, String password) {
    return open(url, user, password, null);
  }

  private static JdbcMetadataStore open(String url, String user, String password, ReentrantLock oneAtATime) {
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
    return new JdbcMetadataStore(dataSource, oneAtATime);
  }

  /**
   * {@inheritDoc}
   *
   * <p>A transaction that lost a race with another (a serialization failure or a deadlock, which
   * both databases detect) is run again from the start, a few times, after a short random pause.
   */
  @Override
  public <T> T inTransaction(Work<T> work) {
    if (oneAtATime == null) {
      return runWithRetries(work);
    }
    oneAtATime.lock();
    try {
      return runWithRetries(work);
    } finally {
      oneAtATime.unlock();
    }
  }

  private <T> T runWithRetries(Work<T> work) {
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
