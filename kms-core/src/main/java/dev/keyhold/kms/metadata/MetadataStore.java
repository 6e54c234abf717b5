package dev.keyhold.kms.metadata;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.function.Consumer;

/**
 * Where Keyhold keeps what it knows: key stores, and (later) keys, aliases and tags. Every read and
 * write happens in a transaction, so a crash between two steps never leaves half a change.
 *
 * <p>The SQL behind it is portable (no vendor types or functions), so the embedded H2 default and a
 * PostgreSQL server run the same statements; {@link JdbcMetadataStore} is the implementation for both.
 */
public interface MetadataStore extends AutoCloseable {
  /**
   * Runs {@code work} in one serializable transaction and commits it; rolls back if it throws.
   *
   * @throws MetadataException if the database fails
   */
  <T> T inTransaction(Work<T> work);

  /**
   * Publishes {@code message} on {@code topic} once the transaction of {@code connection} commits:
   * every subscriber of the topic hears it, on this node before {@link #inTransaction} returns, and
   * on every other node that shares the database soon after (PostgreSQL's NOTIFY, sent with the
   * commit). Nothing is published if the transaction rolls back.
   *
   * @param connection the connection of a transaction running in {@link #inTransaction}
   */
  void publishOnCommit(Connection connection, String topic, String message);

  /**
   * Calls {@code listener} with every message published on {@code topic}, by any node, after its
   * transaction commits; calls {@code resync} whenever messages may have been missed (when this node
   * starts listening to the database, and again after it lost and regained its connection).
   */
  void subscribe(String topic, Consumer<String> listener, Runnable resync);

  /**
   * Whether this node holds {@code role}, which one node at a time holds among every node that shares
   * the database, taking it if none does. A node loses its roles when it dies or loses the database;
   * another takes them when it next asks. The one process of an embedded store always holds them.
   */
  boolean holdsRole(String role);

  /** Gives up {@code role} if this node holds it, so that the next node to ask takes it. */
  void releaseRole(String role);

  @Override
  void close();

  /** Statements run inside one transaction. */
  @FunctionalInterface
  interface Work<T> {
    T run(Connection connection) throws SQLException;
  }
}
