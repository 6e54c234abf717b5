package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.base.Throwables;
import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import com.google.common.collect.ImmutableList;
import com.google.common.util.concurrent.UncheckedExecutionException;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.kms.secret.MasterKeyRotation;
import dev.keyhold.kms.secret.SealedSecret;
import dev.keyhold.pkcs11.Pin;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.ExecutionException;

/**
 * The credentials of every node, in the metadata store: created, listed, disabled and deleted by the
 * operator ({@code bin/keyhold credentials}), looked up by every node's authenticator. A node keeps
 * what it looked up in memory, found or not, and forgets an access key when any node changes it (the
 * store's publication on commit), or everything after it may have missed a change.
 */
public final class MetadataCredentials implements Credentials {
  /** The metadata store topic on which a change to a credential publishes its access key id. */
  private static final String CHANGED = "keyhold_changed_credentials";
  private static final String ACTIVE = "Active";
  private static final String INACTIVE = "Inactive";
  private static final int MAX_CACHED = 10_000;

  /** A credential as the operator sees it: never its secret. */
  public record Entry(String accessKeyId, String principalArn, boolean active) {}

  private final MetadataStore metadata;
  private final MasterKey masterKey;
  private final Clock clock;
  private final Cache<String, Optional<Credential>> known = CacheBuilder.newBuilder().maximumSize(MAX_CACHED).build();

  public MetadataCredentials(MetadataStore metadata, MasterKey masterKey, Clock clock) {
    this.metadata = checkNotNull(metadata, "metadata");
    this.masterKey = checkNotNull(masterKey, "masterKey");
    this.clock = checkNotNull(clock, "clock");
    metadata.subscribe(CHANGED, known::invalidate, known::invalidateAll);
  }

  @Override
  public Optional<Credential> lookup(String accessKeyId) {
    checkNotNull(accessKeyId, "accessKeyId");
    try {
      return known.get(accessKeyId, () -> read(accessKeyId));
    } catch (ExecutionException | UncheckedExecutionException e) {
      // the store's own exception, so that a database that does not answer is answered as such
      Throwables.throwIfUnchecked(e.getCause());
      throw new IllegalStateException("cannot read credential " + accessKeyId, e.getCause());
    }
  }

  /**
   * Stores {@code credential}, active, with its secret sealed under the master key.
   *
   * @throws IllegalArgumentException if its access key id is taken
   */
  public void create(Credential credential) {
    checkNotNull(credential, "credential");
    boolean created = metadata.inTransaction(c -> {
      if (exists(c, credential.accessKeyId())) {
        return false;
      }
      insert(c, credential, masterKey, clock.millis());
      metadata.publishOnCommit(c, CHANGED, credential.accessKeyId());
      return true;
    });
    checkArgument(created, "access key id %s is already configured", credential.accessKeyId());
  }

  /**
   * Stores {@code credential}, active, its secret sealed under {@code masterKey}, in the caller's
   * transaction: for {@link #create}, and for moving an embedded home's credentials into a database.
   */
  public static void insert(Connection c, Credential credential, MasterKey masterKey, long creationMillis)
      throws SQLException {
    String sealed = credential.secretAccessKey()
        .withChars(chars -> masterKey.seal(Pin.of(chars), credential.accessKeyId())).toBase64();
    try (PreparedStatement insert = c.prepareStatement("INSERT INTO credentials (access_key_id, principal_arn, "
        + "sealed_secret, state, creation_date) VALUES (?, ?, ?, ?, ?)")) {
      insert.setString(1, credential.accessKeyId());
      insert.setString(2, credential.principalArn());
      insert.setString(3, sealed);
      insert.setString(4, ACTIVE);
      insert.setLong(5, creationMillis);
      insert.executeUpdate();
    }
  }

  /** The credentials' sealed secrets, for a master key rotation. */
  public static MasterKeyRotation.SealedSecrets secrets() {
    return (c, reseal) -> {
      try (PreparedStatement select = c.prepareStatement("SELECT access_key_id, sealed_secret FROM credentials");
          ResultSet rows = select.executeQuery();
          PreparedStatement update = c.prepareStatement(
              "UPDATE credentials SET sealed_secret = ? WHERE access_key_id = ?")) {
        while (rows.next()) {
          String accessKeyId = rows.getString(1);
          update.setString(1, reseal.apply(SealedSecret.fromBase64(rows.getString(2)), accessKeyId).toBase64());
          update.setString(2, accessKeyId);
          update.executeUpdate();
        }
      }
    };
  }

  /** Every credential, active or not, by access key id. */
  public ImmutableList<Entry> list() {
    return metadata.inTransaction(c -> {
      try (PreparedStatement select = c.prepareStatement("SELECT access_key_id, principal_arn, state "
          + "FROM credentials ORDER BY access_key_id");
          ResultSet rows = select.executeQuery()) {
        ImmutableList.Builder<Entry> entries = ImmutableList.builder();
        while (rows.next()) {
          entries.add(new Entry(rows.getString(1), rows.getString(2), rows.getString(3).equals(ACTIVE)));
        }
        return entries.build();
      }
    });
  }

  /** Disables {@code accessKeyId}: every node refuses it within a second. False if there is none. */
  public boolean disable(String accessKeyId) {
    return change(accessKeyId, "UPDATE credentials SET state = '" + INACTIVE + "' WHERE access_key_id = ?");
  }

  /** Deletes {@code accessKeyId}: every node refuses it within a second. False if there is none. */
  public boolean delete(String accessKeyId) {
    return change(accessKeyId, "DELETE FROM credentials WHERE access_key_id = ?");
  }

  private boolean change(String accessKeyId, String sql) {
    checkNotNull(accessKeyId, "accessKeyId");
    return metadata.inTransaction(c -> {
      try (PreparedStatement statement = c.prepareStatement(sql)) {
        statement.setString(1, accessKeyId);
        if (statement.executeUpdate() == 0) {
          return false;
        }
      }
      metadata.publishOnCommit(c, CHANGED, accessKeyId);
      return true;
    });
  }

  private Optional<Credential> read(String accessKeyId) {
    return metadata.inTransaction(c -> {
      try (PreparedStatement select = c.prepareStatement("SELECT principal_arn, sealed_secret "
          + "FROM credentials WHERE access_key_id = ? AND state = '" + ACTIVE + "'")) {
        select.setString(1, accessKeyId);
        try (ResultSet row = select.executeQuery()) {
          if (!row.next()) {
            return Optional.empty();
          }
          SecretAccessKey secret = masterKey.open(SealedSecret.fromBase64(row.getString(2)), accessKeyId)
              .withChars(SecretAccessKey::of);
          return Optional.of(new Credential(accessKeyId, secret, row.getString(1)));
        }
      }
    });
  }

  private static boolean exists(Connection c, String accessKeyId) throws SQLException {
    try (PreparedStatement select = c.prepareStatement("SELECT 1 FROM credentials WHERE access_key_id = ?")) {
      select.setString(1, accessKeyId);
      try (ResultSet row = select.executeQuery()) {
        return row.next();
      }
    }
  }
}
