package dev.keyhold.kms.metadata;

import java.sql.Connection;
import java.sql.SQLException;

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

  @Override
  void close();

  /** Statements run inside one transaction. */
  @FunctionalInterface
  interface Work<T> {
    T run(Connection connection) throws SQLException;
  }
}
