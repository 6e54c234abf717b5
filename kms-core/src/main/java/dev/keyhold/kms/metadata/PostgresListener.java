package dev.keyhold.kms.metadata;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.Properties;
import java.util.Set;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hears the NOTIFY messages that other nodes' transactions send with their commits ({@code LISTEN}
 * on a connection of its own), and hands them to this process's subscribers. After its connection
 * is lost, it connects again and asks every subscriber to resynchronise, since it may have missed
 * messages meanwhile; first it waits until the node's connection pool serves again
 * ({@code awaitPool}), since a subscriber that resynchronises drops what it cached and the hot path
 * then reads the database at once.
 */
final class PostgresListener implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PostgresListener.class);
  private static final int POLL_MILLIS = 100;
  /** How often an idle connection is checked: a dead peer only shows when the connection is used. */
  private static final Duration CHECK_EVERY = Duration.ofSeconds(2);
  private static final Duration RECONNECT_AFTER = Duration.ofMillis(500);
  /** How the listener's connection names itself to PostgreSQL. */
  static final String APPLICATION_NAME = "keyhold-metadata-listener";

  private final String url;
  private final String user;
  private final String password;
  private final Subscriptions subscriptions;
  private final Runnable awaitPool;
  private final Thread thread;
  private volatile boolean closed;

  PostgresListener(String url, String user, String password, Subscriptions subscriptions, Runnable awaitPool) {
    this.url = url;
    this.user = user;
    this.password = password;
    this.subscriptions = subscriptions;
    this.awaitPool = awaitPool;
    this.thread = new Thread(this::listen, "keyhold-metadata-listener");
    thread.setDaemon(true);
    thread.start();
  }

  private void listen() {
    while (!closed) {
      try (Connection connection = DriverManager.getConnection(url, properties())) {
        connection.setAutoCommit(true);
        listenUntilClosed(connection);
      } catch (SQLException e) {
        if (!closed) {
          LOG.warn("lost the metadata store's notifications ({}); connecting again", e.getMessage());
          pause();
        }
      }
    }
  }

  private void listenUntilClosed(Connection connection) throws SQLException {
    PGConnection notifications = connection.unwrap(PGConnection.class);
    Set<String> listening = new HashSet<>();
    boolean synced = false;
    long nextCheck = System.nanoTime() + CHECK_EVERY.toNanos();
    while (!closed) {
      for (String topic : subscriptions.topics()) {
        if (listening.add(topic)) {
          try (Statement statement = connection.createStatement()) {
            statement.execute("LISTEN " + topic);
          }
          subscriptions.listeningTo(topic);
          synced = false;
        }
      }
      if (!synced) {
        awaitPool.run();
        subscriptions.resyncAll(); // what was published before LISTEN took effect is not heard
        synced = true;
      }
      PGNotification[] received = notifications.getNotifications(POLL_MILLIS);
      if (received != null) {
        for (PGNotification notification : received) {
          subscriptions.deliver(notification.getName(), notification.getParameter());
        }
      }
      if (System.nanoTime() > nextCheck) {
        try (Statement statement = connection.createStatement()) {
          statement.execute("SELECT 1");
        }
        nextCheck = System.nanoTime() + CHECK_EVERY.toNanos();
      }
    }
  }

  /** The credentials, and a name that shows in {@code pg_stat_activity}. */
  private Properties properties() {
    Properties properties = new Properties();
    properties.setProperty("user", user);
    properties.setProperty("password", password);
    properties.setProperty("ApplicationName", APPLICATION_NAME);
    return properties;
  }

  private static void pause() {
    try {
      Thread.sleep(RECONNECT_AFTER.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    closed = true;
    thread.interrupt();
  }
}
