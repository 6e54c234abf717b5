package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableMap;
import com.google.common.hash.HashCode;
import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.keyhold.kms.secret.MasterKey;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.function.Function;
import javax.crypto.Mac;
import javax.crypto.SecretKey;

/**
 * A key that MACs the audit log's lines: HMAC-SHA256 under a key that {@link MasterKey#deriveKeys}
 * derives for {@value #PURPOSE}, never under a master key itself. Its {@link #id} names it in every
 * line: the first 8 bytes, in hex, of its HMAC of {@code "key id"}, which tell nothing of the key.
 *
 * <p>Thread-safe; its {@code toString} shows the id alone.
 */
final class AuditKey {
  static final String PURPOSE = "keyhold audit log v1";
  private static final int ID_BYTES = 8;

  /**
   * One MAC for every line, not a copy per line: a writer seals its lines one after another under its
   * file's lock, so this lock is never contended, and each line is spared a MAC's allocation.
   */
  @GuardedBy("this")
  private final Mac hmac;

  private final String id;

  private AuditKey(SecretKey derived) {
    try {
      hmac = Mac.getInstance("HmacSHA256");
      hmac.init(derived);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JDK cannot compute HMAC-SHA256", e);
    }
    id = HexFormat.of().formatHex(Arrays.copyOf(hmac.doFinal("key id".getBytes(UTF_8)), ID_BYTES));
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
  synchronized HashCode mac(HashCode previous, String body) {
    hmac.update(previous.asBytes());
    return HashCode.fromBytes(hmac.doFinal(body.getBytes(UTF_8)));
  }

  @Override
  public String toString() {
    return "AuditKey[" + id + "]";
  }
}
