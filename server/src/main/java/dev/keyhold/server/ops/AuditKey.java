package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableMap;
import com.google.common.hash.HashCode;
import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;
import dev.keyhold.kms.secret.MasterKey;
import java.util.Arrays;
import java.util.function.Function;
import javax.crypto.SecretKey;

/**
 * A key that MACs the audit log's lines: HMAC-SHA256 under a key that {@link MasterKey#deriveKeys}
 * derives for {@value #PURPOSE}, never under a master key itself. Its {@link #id} names it in every
 * line: the first 8 bytes, in hex, of its HMAC of {@code "key id"}, which tell nothing of the key.
 *
 * <p>Immutable and thread-safe; its {@code toString} shows the id alone.
 */
final class AuditKey {
  static final String PURPOSE = "keyhold audit log v1";
  private static final int ID_BYTES = 8;

  private final HashFunction hmac;
  private final String id;

  private AuditKey(SecretKey derived) {
    this.hmac = Hashing.hmacSha256(derived);
    this.id = HashCode.fromBytes(Arrays.copyOf(hmac.hashString("key id", UTF_8).asBytes(), ID_BYTES)).toString();
  }

  /** The audit key of {@code masterKey}'s configured file, as it holds that file now: lines are MACed under it. */
  static AuditKey current(MasterKey masterKey) {
    checkNotNull(masterKey, "masterKey");
    return new AuditKey(masterKey.deriveKeys(PURPOSE).get(0));
  }

  /** The audit keys of every key {@code masterKey} holds (its file's, and a rotation's beside it), by id. */
  static ImmutableMap<String, AuditKey> all(MasterKey masterKey) {
    checkNotNull(masterKey, "masterKey");
    return masterKey.deriveKeys(PURPOSE).stream().map(AuditKey::new)
        .collect(ImmutableMap.toImmutableMap(AuditKey::id, Function.identity(), (first, same) -> first));
  }

  /** 16 hex digits that name this key. */
  String id() {
    return id;
  }

  /** The MAC of a line whose text before its {@code mac} field is {@code body}, after a line whose MAC is {@code previous}. */
  HashCode mac(HashCode previous, String body) {
    return hmac.newHasher().putBytes(previous.asBytes()).putString(body, UTF_8).hash();
  }

  @Override
  public String toString() {
    return "AuditKey[" + id + "]";
  }
}
