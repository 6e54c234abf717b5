package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.NotFoundException;
import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.required;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.policy.Policy;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * The one home of key resolution and of the key cache: a key id, key ARN, alias name or alias ARN
 * resolved to the key, its state, its parsed policy and its grants ({@link #resolve}); a key's row read and
 * changed as the database holds it now ({@link #current}, {@link #change}); and the cache's one
 * invalidation point ({@link #changed}).
 *
 * <p>The cache holds resolved keys by key id and alias names by the key they point to, so that the
 * hot path reads no database. The database stays the one source of truth: every change is decided on
 * the row as it is now, and its transaction publishes the key's id ({@link #changed}); when it
 * commits, every node that shares the database drops the key and the aliases that point to it (this
 * node at once, the others on the metadata store's notification), and a node that may have missed
 * notifications drops everything. A read that raced an invalidation is not kept: a reader notes
 * {@code changes} before it reads the database and keeps what it read only if no invalidation came in
 * between.
 *
 * <p>The operations on keys (lifecycle, deletion, aliases, tags, policies, crypto, replication)
 * receive this, not each other.
 */
public final class KeyRecords {
  /** The metadata store topic on which every change to a key publishes the key's id. */
  private static final String CHANGED_KEYS = "keyhold_changed_keys";
  /** Bounds the cache's memory at a start: some 500 bytes a key, most sharing one parsed policy. */
  private static final int PRELOADED_KEYS = 50_000;
  private static final Pattern KEY_ID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

  private final MetadataStore metadata;
  private final Account account;
  private final Map<String, ResolvedKey> cachedKeys = new ConcurrentHashMap<>();
  private final Map<String, String> cachedAliasTargets = new ConcurrentHashMap<>();
  /** Counts invalidations. */
  private final AtomicLong changes = new AtomicLong();

  KeyRecords(MetadataStore metadata, Account account) {
    this.metadata = metadata;
    this.account = account;
    metadata.subscribe(CHANGED_KEYS, this::forget, this::forgetAll);
  }

  /**
   * The key named by a key id, key ARN, alias name or alias ARN, from the cache after its first use
   * (then the database is read once, for the key, its policy and its grants). A key whose CreateKey has not
   * finished does not exist yet.
   *
   * @throws KmsException {@code ValidationException} if {@code name} is absent or too long,
   *     {@code NotFoundException} if it names no key
   */
  public ResolvedKey resolve(String name) {
    // Most requests name their key by its id, and a cached id is a valid one: no parsing.
    ResolvedKey named = name == null ? null : cachedKeys.get(name);
    if (named != null) {
      return named;
    }
    String keyId = keyIdOf(name);
    ResolvedKey key = cachedKeys.get(keyId);
    if (key != null) {
      return key;
    }
    long readAt = changes.get();
    ResolvedKey read = metadata.inTransaction(c -> {
      Optional<KeyRecord> record = KeyTable.byId(c, keyId).filter(row -> row.state() != KeyState.Creating);
      return record.isEmpty() ? Optional.<ResolvedKey>empty()
          : Optional.of(new ResolvedKey(record.get(), Policy.parse(KeyPolicies.read(c, keyId)),
              KeyGrants.read(c, account, keyId)));
    }).orElseThrow(() -> notFound(keyId));
    keepIfUnchanged(cachedKeys, keyId, read, readAt);
    return read;
  }

  /**
   * Reads every finished key, its policy and its grants into the cache, in one transaction and up to
   * {@value #PRELOADED_KEYS} keys, so that the first use of each key after a start reads no database:
   * without this, right after a restart every key's first call paid a read of its row and policy.
   * Keys share few policy documents (most keep the default one), so each document is parsed once.
   * Nothing read is kept if a key changed meanwhile; those keys are then read on their first use.
   *
   * @return how many keys were cached
   */
  public int preload() {
    long readAt = changes.get();
    List<ResolvedKey> read = metadata.inTransaction(c -> {
      Map<String, String> policies = KeyPolicies.all(c);
      Map<String, List<GrantListEntry>> grants = KeyGrants.all(c, account);
      Map<String, Policy> parsed = new HashMap<>();
      List<ResolvedKey> keys = new ArrayList<>();
      for (KeyRecord record : KeyTable.oldest(c, PRELOADED_KEYS)) {
        String document = policies.get(record.keyId());
        if (document != null) {
          keys.add(new ResolvedKey(record, parsed.computeIfAbsent(document, Policy::parse),
              grants.getOrDefault(record.keyId(), List.of())));
        }
      }
      return keys;
    });
    for (ResolvedKey key : read) {
      cachedKeys.putIfAbsent(key.keyId(), key);
    }
    if (changes.get() != readAt) {
      read.forEach(key -> cachedKeys.remove(key.keyId(), key));
      return 0;
    }
    return read.size();
  }

  /**
   * The key id that a key id, key ARN, alias name or alias ARN names, without reading the key: for a
   * caller that reads the key's row itself ({@link #current}).
   *
   * @throws KmsException as {@link #resolve}
   */
  String keyIdOf(String name) {
    String given = length(required(name, "keyId"), "keyId", 1, 2048);
    String keyId = given.startsWith("alias/") || given.contains(":alias/") ? aliasTarget(given)
        : given.startsWith("arn:") ? account.keyIdOf(given) : given;
    if (keyId == null || !KEY_ID.matcher(keyId).matches()) {
      throw new KmsException(NotFoundException, "Invalid keyId '" + given + "'");
    }
    return keyId;
  }

  /** The key id an alias name or alias ARN points to; NotFoundException if none. */
  private String aliasTarget(String aliasNameOrArn) {
    String aliasName = aliasNameOrArn.startsWith("arn:") ? account.aliasNameOf(aliasNameOrArn) : aliasNameOrArn;
    if (aliasName == null) {
      throw new KmsException(NotFoundException, "Invalid keyId '" + aliasNameOrArn + "'");
    }
    String cached = cachedAliasTargets.get(aliasName);
    if (cached != null) {
      return cached;
    }
    long readAt = changes.get();
    String keyId = metadata.inTransaction(c -> KeyAliases.targetOf(c, aliasName))
        .orElseThrow(() -> KeyAliases.notFound(account, aliasName));
    keepIfUnchanged(cachedAliasTargets, aliasName, keyId, readAt);
    return keyId;
  }

  /**
   * Changes a key's record as the database holds it now, in one transaction that locks its row:
   * {@code change} sees the current record (never the cache's copy), may refuse by throwing, and
   * returns the new one.
   */
  KeyRecord change(String name, UnaryOperator<KeyRecord> change) {
    String keyId = keyIdOf(name);
    return metadata.inTransaction(c -> {
      KeyRecord next = change.apply(current(c, keyId));
      KeyTable.update(c, next);
      changed(c, keyId);
      return next;
    });
  }

  /**
   * The finished record of {@code keyId} as the database holds it now, its row locked until the
   * caller's transaction ends, for a decision that must not race a change or a deletion.
   *
   * @throws KmsException NotFoundException if the key is gone (and forgotten)
   */
  KeyRecord current(Connection c, String keyId) throws SQLException {
    return KeyTable.lockById(c, keyId).orElseThrow(() -> gone(keyId));
  }

  /** The finished record of {@code keyId} in the database now; empty while its CreateKey runs. */
  Optional<KeyRecord> read(String keyId) {
    return metadata.inTransaction(c -> KeyTable.byId(c, keyId)).filter(key -> key.state() != KeyState.Creating);
  }

  /** Whether {@code keyId}'s finished record exists now; for failure paths only (it reads the database). */
  boolean exists(String keyId) {
    return read(keyId).isPresent();
  }

  /** Forgets the cached copy of {@code current}'s key if it differs from {@code current}, as read just now. */
  void forgetIfStale(KeyRecord current) {
    ResolvedKey cached = cachedKeys.get(current.keyId());
    if (cached != null && !cached.record().equals(current)) {
      forget(current.keyId());
    }
  }

  /**
   * Whether this process's cache holds {@code keyId} without the grant {@code grantId}: a grant made
   * on another node, whose notification has not come yet, or one since deleted.
   */
  boolean cachedWithoutGrant(String keyId, String grantId) {
    ResolvedKey cached = cachedKeys.get(keyId);
    return cached != null && cached.grants().stream().noneMatch(grant -> grant.grantId().equals(grantId));
  }

  /** A key whose record is gone, which the cache may still hold: forgotten, and NotFoundException to throw. */
  KmsException gone(String keyId) {
    forget(keyId);
    return notFound(keyId);
  }

  /**
   * Records, in the transaction of {@code c}, that the key {@code keyId} changed: its state, its
   * description, its policy, its grants, an alias that points or pointed to it, or its deletion. The cache's one
   * invalidation point: once the transaction commits, every node forgets the key.
   */
  void changed(Connection c, String keyId) {
    metadata.publishOnCommit(c, CHANGED_KEYS, keyId);
  }

  /**
   * Forgets the key {@code keyId} and every alias that points to it, in this process (a copy the
   * database shows stale, or a key gone): read again on its next use.
   */
  void forget(String keyId) {
    changes.incrementAndGet();
    cachedKeys.remove(keyId);
    cachedAliasTargets.values().removeIf(keyId::equals);
  }

  /** Forgets every key and alias, in this process: changes may have been missed. */
  private void forgetAll() {
    changes.incrementAndGet();
    cachedKeys.clear();
    cachedAliasTargets.clear();
  }

  /** Keeps {@code value}, read from the database when {@link #changes} was {@code readAt}, unless it changed since. */
  private <V> void keepIfUnchanged(Map<String, V> cache, String name, V value, long readAt) {
    cache.put(name, value);
    if (changes.get() != readAt) {
      cache.remove(name, value);
    }
  }

  private KmsException notFound(String keyId) {
    return new KmsException(NotFoundException, "Key '" + account.keyArn(keyId) + "' does not exist");
  }
}
