package dev.keyhold.kms.metadata;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.Properties;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Roles that one node at a time holds, as PostgreSQL session advisory locks on a connection of their
 * own. A node that dies, or loses that connection, loses its roles with it, and the next node that
 * asks takes them: the database decides, no consensus of our own.
 */
final class RoleLocks implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RoleLocks.class);
  private static final int VALID_SECONDS = 2;
  /** How the connection names itself to PostgreSQL. */
  static final String APPLICATION_NAME = "keyhold-role-locks";

  private final String url;
  private final Properties properties;
  private Connection connection; // guarded by this
  private final Set<String> held = new HashSet<>(); // guarded by this

  RoleLocks(String url, String user, String password) {
    this.url = url;
    this.properties = new Properties();
    properties.setProperty("user", user);
    properties.setProperty("password", password);
    properties.setProperty("ApplicationName", APPLICATION_NAME);
  }

  /** Whether this node holds {@code role} now, taking it if no node does. False if the database cannot tell. */
  synchronized boolean holds(String role) {
    try {
      if (connection == null || !connection.isValid(VALID_SECONDS)) {
        reconnect();
      }
      if (held.contains(role)) {
        return true;
      }
      try (PreparedStatement take = connection.prepareStatement("SELECT pg_try_advisory_lock(hashtext(?))")) {
        take.setString(1, role);
        try (ResultSet taken = take.executeQuery()) {
          taken.next();
          if (taken.getBoolean(1)) {
            held.add(role);
            LOG.info("this node now holds the role {}", role);
            return true;
          }
          return false;
        }
      }
    } catch (SQLException e) {
      LOG.warn("cannot tell whether this node holds the role {}: {}", role, e.getMessage());
      closeQuietly();
      return false;
    }
  }

  /** Gives up {@code role} if this node holds it; a connection that is gone has given it up already. */
  synchronized void release(String role) {
    if (!held.remove(role) || connection == null) {
      return;
    }
    try (PreparedStatement give = connection.prepareStatement("SELECT pg_advisory_unlock(hashtext(?))")) {
      give.setString(1, role);
      give.execute();
    } catch (SQLException e) {
      LOG.warn("cannot give up the role {}; it goes with this node's connection: {}", role, e.getMessage());
      closeQuietly();
    }
  }

  private void reconnect() throws SQLException {
    closeQuietly();
    connection = DriverManager.getConnection(url, properties);
    connection.setAutoCommit(true);
  }

  /** Roles go with the connection that holds their locks. */
  private void closeQuietly() {
    if (!held.isEmpty()) {
      LOG.warn("this node gives up the roles {}", held);
      held.clear();
    }
    if (connection != null) {
      try {
        connection.close();
      } catch (SQLException e) {
        // the session, and its locks, end either way
      }
      connection = null;
    }
  }

  @Override
  public synchronized void close() {
    closeQuietly();
  }
}
