package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.InvalidGrantTokenException;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.secret.MasterKey;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.SecretKey;

/**
 * Grant tokens: a grant's key and id, MACed under a key derived from the master key, so that a token
 * is checked without reading the database, and only this service (whoever holds the master key) makes
 * one that passes. A random nonce makes each CreateGrant's token new, as AWS's are, even for a grant
 * CreateGrant found already there.
 *
 * <p>A token is the URL-safe base64, without padding, of: version 1 (one byte), the key id (16 bytes),
 * the grant id (32 bytes), the nonce (16 bytes), and the HMAC-SHA256 of those (32 bytes). A master key
 * rotation keeps older tokens valid: each key the master key ring holds is tried.
 */
final class GrantTokens {
  private static final String PURPOSE = "keyhold grant tokens v1";
  private static final byte VERSION = 1;
  private static final int KEY_ID_BYTES = 16;
  private static final int GRANT_ID_BYTES = 32;
  private static final int NONCE_BYTES = 16;
  private static final int MAC_BYTES = 32;
  private static final int BODY_BYTES = 1 + KEY_ID_BYTES + GRANT_ID_BYTES + NONCE_BYTES;

  private final MasterKey masterKey;
  private final SecureRandom random = new SecureRandom();

  GrantTokens(MasterKey masterKey) {
    this.masterKey = masterKey;
  }

  /** The grant a valid token names. */
  record Granted(String keyId, String grantId) {}

  /** A new token of the grant {@code grantId} (64 hex digits) on the key {@code keyId}. */
  String issue(String keyId, String grantId) {
    UUID key = UUID.fromString(keyId);
    byte[] nonce = new byte[NONCE_BYTES];
    random.nextBytes(nonce);
    ByteBuffer token = ByteBuffer.allocate(BODY_BYTES + MAC_BYTES)
        .put(VERSION)
        .putLong(key.getMostSignificantBits()).putLong(key.getLeastSignificantBits())
        .put(HexFormat.of().parseHex(grantId))
        .put(nonce);
    token.put(mac(masterKey.deriveKeys(PURPOSE).get(0), Arrays.copyOf(token.array(), BODY_BYTES)));
    return Base64.getUrlEncoder().withoutPadding().encodeToString(token.array());
  }

  /**
   * The grant {@code token} names.
   *
   * @throws KmsException InvalidGrantTokenException unless this service issued it
   */
  Granted verify(String token) {
    byte[] bytes;
    try {
      bytes = Base64.getUrlDecoder().decode(token);
    } catch (IllegalArgumentException e) {
      throw invalid();
    }
    if (bytes.length != BODY_BYTES + MAC_BYTES || bytes[0] != VERSION) {
      throw invalid();
    }
    byte[] body = Arrays.copyOf(bytes, BODY_BYTES);
    byte[] given = Arrays.copyOfRange(bytes, BODY_BYTES, bytes.length);
    if (masterKey.deriveKeys(PURPOSE).stream().noneMatch(key -> MessageDigest.isEqual(mac(key, body), given))) {
      throw invalid();
    }
    ByteBuffer read = ByteBuffer.wrap(body, 1, KEY_ID_BYTES + GRANT_ID_BYTES);
    String keyId = new UUID(read.getLong(), read.getLong()).toString();
    byte[] grantId = new byte[GRANT_ID_BYTES];
    read.get(grantId);
    return new Granted(keyId, HexFormat.of().formatHex(grantId));
  }

  private static byte[] mac(SecretKey key, byte[] body) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      return mac.doFinal(body);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HMAC-SHA256 failed", e);
    }
  }

  private static KmsException invalid() {
    return new KmsException(InvalidGrantTokenException, "The grant token is not valid.");
  }
}
