package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.AlreadyExistsException;
import static dev.keyhold.kms.error.KmsErrorType.InvalidAliasNameException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.LimitExceededException;
import static dev.keyhold.kms.error.KmsErrorType.NotFoundException;
import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.pattern;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;
import static dev.keyhold.kms.error.Validation.text;
import static dev.keyhold.kms.error.Validation.violated;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Page;
import dev.keyhold.kms.error.Validation.Rule;
import dev.keyhold.kms.metadata.MetadataStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * CreateAlias, UpdateAlias, DeleteAlias and ListAliases, and the alias forms of a KeyId
 * ({@code alias/name} and the alias ARN). Aliases resolve from memory after their first use.
 */
public final class KeyAliases {
  private static final String PREFIX = "alias/";
  private static final Pattern ALIAS_PATTERN = Pattern.compile("^[a-zA-Z0-9:/_-]+$");
  private static final Pattern AFTER_PREFIX = Pattern.compile("[a-zA-Z0-9/_-]+");
  private static final int MAX_ALIASES_PER_KEY = 50;
  private static final String COLUMNS = "alias_name, target_key_id, creation_date, last_updated_date";

  private final MetadataStore metadata;
  private final KeyRecords keys;
  private final Account account;
  private final Clock clock;

  KeyAliases(MetadataStore metadata, KeyRecords keys, Account account, Clock clock) {
    this.metadata = metadata;
    this.keys = keys;
    this.account = account;
    this.clock = clock;
  }

  public void createAlias(String aliasName, String targetKeyId) {
    String name = checkName(aliasName);
    String targetId = targetIdOf(targetKeyId);
    Instant now = clock.instant().truncatedTo(ChronoUnit.MILLIS);
    metadata.inTransaction(c -> {
      KeyRecord key = usableTarget(c, targetId);
      if (targetOf(c, name).isPresent()) {
        throw new KmsException(AlreadyExistsException, "An alias with the name " + arn(name) + " already exists");
      }
      checkRoomFor(c, key);
      try (PreparedStatement insert = c.prepareStatement(
          "INSERT INTO aliases (" + COLUMNS + ") VALUES (?, ?, ?, ?)")) {
        insert.setString(1, name);
        insert.setString(2, key.keyId());
        insert.setLong(3, now.toEpochMilli());
        insert.setLong(4, now.toEpochMilli());
        insert.executeUpdate();
      }
      return null;
    });
  }

  /** UpdateAlias: points an existing alias at another key; the old target's state does not matter. */
  public void updateAlias(String aliasName, String targetKeyId) {
    String name = checkName(aliasName);
    String targetId = targetIdOf(targetKeyId);
    metadata.inTransaction(c -> {
      KeyRecord key = usableTarget(c, targetId);
      String previous = targetOf(c, name).orElseThrow(() -> notFound(account, name));
      checkRoomFor(c, key);
      try (PreparedStatement update = c.prepareStatement(
          "UPDATE aliases SET target_key_id = ?, last_updated_date = ? WHERE alias_name = ?")) {
        update.setString(1, key.keyId());
        update.setLong(2, clock.instant().toEpochMilli());
        update.setString(3, name);
        update.executeUpdate();
      }
      keys.changed(c, previous);
      return null;
    });
  }

  /** DeleteAlias, in any key state. */
  public void deleteAlias(String aliasName) {
    String name = checkName(aliasName);
    metadata.inTransaction(c -> {
      String previous = targetOf(c, name).orElseThrow(() -> notFound(account, name));
      try (PreparedStatement delete = c.prepareStatement("DELETE FROM aliases WHERE alias_name = ?")) {
        delete.setString(1, name);
        delete.executeUpdate();
      }
      keys.changed(c, previous);
      return null;
    });
  }

  /** ListAliases: all, or those of one key; Limit 1 to 100 (default 50). */
  public ListAliasesResponse listAliases(String keyId, Integer limit, String marker) {
    int pageSize = Optional.ofNullable(range(limit, "limit", 1, 100)).orElse(50);
    text(marker, "marker", 1, 1024);
    String filter = keyId == null ? null : keys.resolve(keyId).keyId();
    List<AliasListEntry> all = metadata.inTransaction(c -> {
      String sql = "SELECT " + COLUMNS + " FROM aliases" + (filter == null ? "" : " WHERE target_key_id = ?")
          + " ORDER BY alias_name";
      try (PreparedStatement select = c.prepareStatement(sql)) {
        if (filter != null) {
          select.setString(1, filter);
        }
        try (ResultSet rows = select.executeQuery()) {
          List<AliasListEntry> entries = new ArrayList<>();
          while (rows.next()) {
            entries.add(new AliasListEntry(rows.getString(1), arn(rows.getString(1)), rows.getString(2),
                Instant.ofEpochMilli(rows.getLong(3)), Instant.ofEpochMilli(rows.getLong(4))));
          }
          return entries;
        }
      }
    });
    Page<AliasListEntry> page = Page.of(all, AliasListEntry::aliasName, pageSize, marker);
    return new ListAliasesResponse(page.items(), page.nextMarker(), page.truncated());
  }

  private String targetIdOf(String targetKeyId) {
    String given = required(targetKeyId, "targetKeyId");
    if (given.startsWith(PREFIX) || given.contains(":alias/")) {
      throw violated(Rule.TARGET_IS_ALIAS, given);
    }
    return keys.keyIdOf(given);
  }

  /** The target key as it is now, locked for the caller's transaction, if an alias may point to it. */
  private KeyRecord usableTarget(Connection c, String keyId) throws SQLException {
    KeyRecord target = keys.current(c, keyId);
    if (target.state() == KeyState.PendingDeletion) {
      throw new KmsException(KMSInvalidStateException, target.arn() + " is pending deletion.");
    }
    return target;
  }

  private static void checkRoomFor(Connection c, KeyRecord target) throws SQLException {
    if (count(c, target.keyId()) >= MAX_ALIASES_PER_KEY) {
      throw new KmsException(LimitExceededException,
          "A key can have at most " + MAX_ALIASES_PER_KEY + " aliases: " + target.arn());
    }
  }

  private static String checkName(String aliasName) {
    String name = pattern(length(required(aliasName, "aliasName"), "aliasName", 1, 256), "aliasName", ALIAS_PATTERN);
    if (!name.startsWith(PREFIX)) {
      throw violated(Rule.ALIAS_PREFIX);
    }
    if (!AFTER_PREFIX.matcher(name.substring(PREFIX.length())).matches()) {
      throw new KmsException(InvalidAliasNameException, name + " contains invalid characters for an alias");
    }
    if (name.startsWith("alias/aws/")) {
      throw new KmsException(InvalidAliasNameException,
          "Alias names that begin with alias/aws/ are reserved for AWS managed keys.");
    }
    return name;
  }

  static KmsException notFound(Account account, String name) {
    return new KmsException(NotFoundException, "Alias " + account.aliasArn(name) + " is not found.");
  }

  private String arn(String aliasName) {
    return account.aliasArn(aliasName);
  }

  /** The key id {@code name} points to in the database now. */
  static Optional<String> targetOf(Connection c, String name) throws SQLException {
    try (PreparedStatement select = c.prepareStatement("SELECT target_key_id FROM aliases WHERE alias_name = ?")) {
      select.setString(1, name);
      try (ResultSet rows = select.executeQuery()) {
        return rows.next() ? Optional.of(rows.getString(1)) : Optional.empty();
      }
    }
  }

  private static int count(Connection c, String keyId) throws SQLException {
    try (PreparedStatement select = c.prepareStatement("SELECT COUNT(*) FROM aliases WHERE target_key_id = ?")) {
      select.setString(1, keyId);
      try (ResultSet rows = select.executeQuery()) {
        rows.next();
        return rows.getInt(1);
      }
    }
  }
}
