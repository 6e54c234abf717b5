package dev.keyhold.server.wire;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.server.authz.KmsOperation;
import java.util.EnumSet;
import java.util.Set;

/**
 * The keys requests name (key id, key ARN, alias name or alias ARN), resolved to their ARN and key
 * policy for authorization. Requests on the hot path find both in memory: resolving reads the metadata
 * store twice, which would cost more than the HSM call.
 *
 * <p>Every change to a policy or an alias goes through this server ({@link #CHANGES_ACCESS}), which then
 * forgets everything. A key deleted at the end of its waiting period may stay known here, harmlessly:
 * kms-core, which runs the operation, no longer finds it.
 */
final class KeyDirectory {
  /** The operations after which a name may point to another key, or a key have another policy. */
  static final Set<KmsOperation> CHANGES_ACCESS = EnumSet.of(
      KmsOperation.PutKeyPolicy, KmsOperation.CreateAlias, KmsOperation.UpdateAlias, KmsOperation.DeleteAlias);
  private static final int MAX_NAMES = 10_000;

  private final KmsKeys keys;
  private final Cache<String, Key> byName = CacheBuilder.newBuilder().maximumSize(MAX_NAMES).build();
  /** Counts {@link #forgetAll()}s, so that a resolution that raced one does not keep what it read. */
  private long generation; // guarded by this

  KeyDirectory(KmsKeys keys) {
    this.keys = keys;
  }

  /** A key and its policy. */
  record Key(String arn, String policy) {}

  /**
   * The key {@code name} names.
   *
   * @throws dev.keyhold.kms.error.KmsException {@code NotFoundException} as kms-core words it
   */
  Key resolve(String name) {
    Key known = byName.getIfPresent(name);
    if (known != null) {
      return known;
    }
    long readAt = generation();
    KeyMetadata metadata = keys.describeKey(name);
    Key key = new Key(metadata.arn(), keys.policies().getKeyPolicy(metadata.keyId(), null).policy());
    synchronized (this) {
      if (generation == readAt) {
        byName.put(name, key);
      }
    }
    return key;
  }

  /** Forgets every key, after a change of a policy or an alias, successful or not. */
  synchronized void forgetAll() {
    generation++;
    byName.invalidateAll();
  }

  private synchronized long generation() {
    return generation;
  }
}
