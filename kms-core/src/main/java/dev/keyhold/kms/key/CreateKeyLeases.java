package dev.keyhold.kms.key;

import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Locale;
import java.util.UUID;

/**
 * The leases that mark CreateKeys in flight, in the lease columns of {@code kms_keys}
 * ({@code V6__create_key_leases.sql}). A lease belongs to one run of one {@link ServiceNode} and runs
 * until a time set by the database's clock; its CreateKey renews it before every step.
 *
 * <p>A lease that has ended never runs again: renewing and completing both require this run's lease
 * to be running, and the rollback revokes a lease (clears it, deciding on the row as it is now)
 * before it destroys any material. So a CreateKey either completes before the rollback may touch
 * its record, or learns that it lost the race and fails.
 */
final class CreateKeyLeases {
  /** The condition on a {@code kms_keys} row whose lease, if it had one, has ended. */
  static final String ENDED = "(lease_expires_at IS NULL OR lease_expires_at <= CURRENT_TIMESTAMP)";
  private static final String HELD_HERE =
      "key_id = ? AND key_state = 'Creating' AND lease_run = ? AND lease_expires_at > CURRENT_TIMESTAMP";
  private static final String CLEARED = "lease_node = NULL, lease_run = NULL, lease_expires_at = NULL";

  private final MetadataStore metadata;
  private final ServiceNode node;
  private final String run = UUID.randomUUID().toString();
  /** When a lease taken or renewed now ends, as SQL (a constant of ours, so no injection). */
  private final String newEnd;

  CreateKeyLeases(MetadataStore metadata, ServiceNode node) {
    this.metadata = metadata;
    this.node = node;
    this.newEnd = String.format(Locale.ROOT, "CURRENT_TIMESTAMP + INTERVAL '%.3f' SECOND",
        node.leaseTerm().toMillis() / 1000.0);
  }

  /** Gives the Creating record just inserted for {@code keyId} this run's lease, in the caller's transaction. */
  void take(Connection c, String keyId) throws SQLException {
    try (PreparedStatement statement = c.prepareStatement("UPDATE kms_keys SET lease_node = ?, lease_run = ?, "
        + "lease_expires_at = " + newEnd + " WHERE key_id = ? AND key_state = 'Creating'")) {
      statement.setString(1, node.name());
      statement.setString(2, run);
      statement.setString(3, keyId);
      if (statement.executeUpdate() != 1) {
        throw new SQLException("no Creating record of " + keyId + " to lease");
      }
    }
  }

  /** Extends this run's lease on {@code keyId}; false if it has ended, and the CreateKey must fail. */
  boolean renew(String keyId) {
    return update("UPDATE kms_keys SET lease_expires_at = " + newEnd + " WHERE " + HELD_HERE, keyId, run);
  }

  /**
   * Makes {@code keyId} Enabled and clears its lease, only while this run's lease on it runs; false if
   * it has ended (the rollback may have removed the record, or may be about to).
   */
  boolean complete(String keyId) {
    return update("UPDATE kms_keys SET key_state = 'Enabled', " + CLEARED + " WHERE " + HELD_HERE, keyId, run);
  }

  /** Ends this run's lease on {@code keyId} early, running or not: its CreateKey gives up. */
  void release(String keyId) {
    update("UPDATE kms_keys SET " + CLEARED + " WHERE key_id = ? AND key_state = 'Creating' AND lease_run = ?",
        keyId, run);
  }

  /**
   * Revokes the lease on {@code keyId} if it has ended, by the database's clock at this moment; true if
   * the record is now a Creating record with no lease, which nothing will complete.
   */
  boolean revokeIfEnded(String keyId) {
    return update("UPDATE kms_keys SET " + CLEARED + " WHERE key_id = ? AND key_state = 'Creating' AND " + ENDED,
        keyId);
  }

  /** Revokes the leases this node's earlier runs left: they died with their process. Returns how many. */
  int revokeEarlierRuns() {
    return metadata.inTransaction(c -> {
      try (PreparedStatement statement = c.prepareStatement("UPDATE kms_keys SET " + CLEARED
          + " WHERE key_state = 'Creating' AND lease_node = ? AND lease_run <> ?")) {
        statement.setString(1, node.name());
        statement.setString(2, run);
        return statement.executeUpdate();
      }
    });
  }

  /** Deletes {@code keyId}'s record if it is Creating with its lease revoked, in the caller's transaction. */
  static boolean deleteRevoked(Connection c, String keyId) throws SQLException {
    try (PreparedStatement statement = c.prepareStatement(
        "DELETE FROM kms_keys WHERE key_id = ? AND key_state = 'Creating' AND lease_run IS NULL")) {
      statement.setString(1, keyId);
      return statement.executeUpdate() == 1;
    }
  }

  private boolean update(String sql, String... parameters) {
    return metadata.inTransaction(c -> {
      try (PreparedStatement statement = c.prepareStatement(sql)) {
        for (int i = 0; i < parameters.length; i++) {
          statement.setString(i + 1, parameters[i]);
        }
        return statement.executeUpdate() == 1;
      }
    });
  }
}
