package dev.keyhold.kms.key;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one cache of key state in a process: resolved keys by key id, and alias names by the key they
 * point to, so that the hot path reads no database. The database stays the one source of truth:
 * every change is decided on the row as it is now, and then {@link #invalidate} drops what the change
 * touched. It is the cache's one invalidation point.
 *
 * <p>A read that raced an invalidation is not kept: readers note {@link #changes()} before they read
 * the database and hand it back when they store what they read.
 */
final class KeyCache {
  private final Map<String, ResolvedKey> keys = new ConcurrentHashMap<>();
  private final Map<String, String> aliasTargets = new ConcurrentHashMap<>();
  private final AtomicLong changes = new AtomicLong();

  /** How many invalidations there have been; note it before a read of the database. */
  long changes() {
    return changes.get();
  }

  ResolvedKey key(String keyId) {
    return keys.get(keyId);
  }

  String aliasTarget(String aliasName) {
    return aliasTargets.get(aliasName);
  }

  /** Keeps {@code key}, read from the database when {@link #changes()} was {@code readAt}. */
  void keep(ResolvedKey key, long readAt) {
    keys.put(key.keyId(), key);
    if (changes.get() != readAt) {
      keys.remove(key.keyId(), key);
    }
  }

  /** Keeps that {@code aliasName} points to {@code keyId}, read when {@link #changes()} was {@code readAt}. */
  void keepAlias(String aliasName, String keyId, long readAt) {
    aliasTargets.put(aliasName, keyId);
    if (changes.get() != readAt) {
      aliasTargets.remove(aliasName, keyId);
    }
  }

  /**
   * Forgets the key {@code keyId} and every alias that points to it: after any change to the key, its
   * policy or its aliases, its deletion, or a sign that the database no longer has it.
   */
  void invalidate(String keyId) {
    changes.incrementAndGet();
    keys.remove(keyId);
    aliasTargets.values().removeIf(keyId::equals);
  }
}
