package dev.keyhold.kms.metadata;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.flywaydb.core.Flyway;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link MetadataStore} over JDBC, with the schema migrated by Flyway at open
 * ({@code db/migration/V*.sql} in this module).
 *
 * <p>Publications ({@link #publishOnCommit}) reach this process's subscribers right after the commit.
 * On PostgreSQL they are also sent with the commit as {@code NOTIFY}, which every other node's
 * {@link PostgresListener} hears; the embedded H2 store serves one process, which needs nothing more.
 */
public final class JdbcMetadataStore implements MetadataStore {
  private static final int MAX_ATTEMPTS = 6;
  /** Serialization failure and deadlock (PostgreSQL: 40001, 40P01; H2: 40001), and H2's concurrent update. */
  private static final Set<String> RETRYABLE_STATES = Set.of("40001", "40P01", "90131");
  private static final Pattern TOPIC = Pattern.compile("[a-z_]{1,63}");
  private static final Duration CONNECTION_TIMEOUT = Duration.ofSeconds(5);
  private static final Duration LISTEN_TIMEOUT = Duration.ofSeconds(5);
  /** How long the listener waits for the pool after reconnecting, before its subscribers resynchronise anyway. */
  private static final Duration POOL_RECOVERY = Duration.ofSeconds(30);
  private static final Logger LOG = LoggerFactory.getLogger(JdbcMetadataStore.class);
  /** SQLSTATE class 08: connection exceptions. */
  private static final String CONNECTION_EXCEPTION = "08";
  /**
   * PostgreSQL's server going away (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
   * cannot_connect_now): a statement under way when the server stops ends with one of these, not 08.
   */
  private static final String SERVER_GOING_AWAY = "57P";

  private final HikariDataSource dataSource;
  private final Optional<PostgresListener> listener;
  private final Optional<RoleLocks> roles;
  private final Subscriptions subscriptions;
  /** The messages each running transaction publishes when it commits. */
  private final Map<Connection, List<Message>> unpublished = new ConcurrentHashMap<>();

  private record Message(String topic, String text) {}

  private JdbcMetadataStore(HikariDataSource dataSource, Subscriptions subscriptions,
      Optional<PostgresListener> listener, Optional<RoleLocks> roles) {
    this.dataSource = dataSource;
    this.subscriptions = subscriptions;
    this.listener = listener;
    this.roles = roles;
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
    // A database that does not answer fails the request in seconds, rather than holding it.
    config.setConnectionTimeout(CONNECTION_TIMEOUT.toMillis());
    config.setPoolName("keyhold-metadata");
    HikariDataSource dataSource = new HikariDataSource(config);
    try {
      // On connections of Flyway's own, in read committed: in the pool's serializable transactions,
      // a node that waited for Flyway's lock while another migrated would read the schema history
      // as it was before the wait, and apply the same migration again.
      Flyway.configure().dataSource(url, user, password).load().migrate();
    } catch (RuntimeException e) {
      dataSource.close();
      throw new MetadataException("cannot migrate the metadata schema at " + url, e);
    }
    Subscriptions subscriptions = new Subscriptions();
    boolean shared = isPostgresql(url);
    return new JdbcMetadataStore(dataSource, subscriptions,
        shared ? Optional.of(new PostgresListener(url, user, password, subscriptions, () -> awaitPool(dataSource)))
            : Optional.empty(),
        shared ? Optional.of(new RoleLocks(url, user, password)) : Optional.empty());
  }

  /**
   * Waits, at most {@link #POOL_RECOVERY}, until the pool hands out a connection. After an outage the
   * pool reconnects with a back-off of up to 5 s, as long as its requests wait ({@link
   * #CONNECTION_TIMEOUT}): the listener, which connects on its own, is back first, and the subscribers
   * it resynchronises then would drop their caches for reads that time out while the database is up.
   */
  private static void awaitPool(HikariDataSource dataSource) {
    long deadline = System.nanoTime() + POOL_RECOVERY.toNanos();
    while (!dataSource.isClosed()) {
      try (Connection connection = dataSource.getConnection()) {
        return;
      } catch (SQLException e) {
        if (System.nanoTime() > deadline) {
          LOG.warn("the metadata store's pool has not reconnected in {}: {}", POOL_RECOVERY, e.getMessage());
          return;
        }
      }
    }
  }

  private static boolean isPostgresql(String url) {
    return url.startsWith("jdbc:postgresql:");
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
        List<Message> published = new ArrayList<>();
        unpublished.put(connection, published);
        try {
          T result = work.run(connection);
          connection.commit();
          published.forEach(message -> subscriptions.deliver(message.topic(), message.text()));
          return result;
        } catch (SQLException | RuntimeException e) {
          rollBack(connection, e);
          throw e;
        } finally {
          unpublished.remove(connection);
        }
      } catch (SQLException e) {
        if (attempt >= MAX_ATTEMPTS || !RETRYABLE_STATES.contains(String.valueOf(e.getSQLState()))) {
          throw new MetadataException("metadata transaction failed: " + e.getMessage(), e, unreachable(e));
        }
      }
      pauseBeforeAttempt(attempt + 1);
    }
  }

  /**
   * Rolls back after {@code failure}, which stays the failure to report: once a connection broke, the
   * pool closes it, and the rollback's own exception ("Connection is closed", no SQLSTATE) would hide
   * that the database did not answer.
   */
  private static void rollBack(Connection connection, Exception failure) {
    try {
      connection.rollback();
    } catch (SQLException e) {
      failure.addSuppressed(e);
    }
  }

  /** A connection that could not be had, or was lost: the database did not answer. */
  private static boolean unreachable(SQLException e) {
    return e instanceof SQLTransientConnectionException || e instanceof SQLNonTransientConnectionException
        || String.valueOf(e.getSQLState()).startsWith(CONNECTION_EXCEPTION)
        || String.valueOf(e.getSQLState()).startsWith(SERVER_GOING_AWAY);
  }

  @Override
  public void publishOnCommit(Connection connection, String topic, String message) {
    checkArgument(TOPIC.matcher(topic).matches(), "not a topic name: %s", topic);
    List<Message> published = unpublished.get(connection);
    checkArgument(published != null, "not a connection of a running transaction");
    published.add(new Message(topic, message));
    if (listener.isPresent()) {
      try (PreparedStatement notify = connection.prepareStatement("SELECT pg_notify(?, ?)")) {
        notify.setString(1, topic);
        notify.setString(2, message);
        notify.execute();
      } catch (SQLException e) {
        throw new MetadataException("cannot publish on " + topic + ": " + e.getMessage(), e);
      }
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>On PostgreSQL it returns once the database listens to the topic for this process (at most a few
   * seconds): from then on, no other node's commit goes unheard. If the database does not answer
   * meanwhile, it returns anyway; the resync when it does covers what was missed.
   */
  @Override
  public void subscribe(String topic, Consumer<String> listener, Runnable resync) {
    checkArgument(TOPIC.matcher(topic).matches(), "not a topic name: %s", topic);
    subscriptions.add(topic, listener, resync);
    if (this.listener.isPresent() && !subscriptions.awaitListening(topic, LISTEN_TIMEOUT)) {
      LOG.warn("the metadata store does not listen to {} yet; changes of other nodes reach this one once it does",
          topic);
    }
  }

  @Override
  public boolean holdsRole(String role) {
    return roles.map(locks -> locks.holds(role)).orElse(true);
  }

  @Override
  public void releaseRole(String role) {
    roles.ifPresent(locks -> locks.release(role));
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
    listener.ifPresent(PostgresListener::close);
    roles.ifPresent(RoleLocks::close);
    dataSource.close();
  }

  @Override
  public String toString() {
    return "JdbcMetadataStore[" + dataSource.getJdbcUrl() + "]";
  }
}
