package dev.keyhold.kms.key;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import java.util.UUID;

/**
 * Keyhold's ciphertext blob, version 1 (see docs/ciphertext-format.md):
 * <pre>
 *   version (1 byte, 0x01) | key id (16 bytes, the UUID) | key store id length (1 byte) | key store id
 *   (ASCII) | IV (12 bytes) | ciphertext | GCM tag (16 bytes)
 * </pre>
 * Everything before the IV is the header; header and canonical encryption context are the GCM
 * associated data, so a blob moved to another key or key store, or opened with another context, fails.
 */
final class Ciphertext {
  static final byte VERSION = 1;
  private static final int KEY_ID_BYTES = 16;
  private static final int IV_AND_TAG_BYTES = 12 + 16;

  private Ciphertext() {}

  /** The header for {@code keyId} in {@code keyStoreId}. */
  static byte[] header(String keyId, String keyStoreId) {
    byte[] store = keyStoreId.getBytes(StandardCharsets.US_ASCII);
    checkArgument(store.length < 256, "key store id too long: %s", keyStoreId);
    UUID uuid = UUID.fromString(keyId);
    return ByteBuffer.allocate(1 + KEY_ID_BYTES + 1 + store.length)
        .put(VERSION)
        .putLong(uuid.getMostSignificantBits())
        .putLong(uuid.getLeastSignificantBits())
        .put((byte) store.length)
        .put(store)
        .array();
  }

  /** The associated data: header, then the canonical encryption context. */
  static byte[] associatedData(byte[] header, byte[] context) {
    byte[] aad = Arrays.copyOf(header, header.length + context.length);
    System.arraycopy(context, 0, aad, header.length, context.length);
    return aad;
  }

  /** A blob split into its parts, if it has the shape of version 1. */
  record Parsed(String keyId, String keyStoreId, byte[] header, byte[] body) {}

  static Optional<Parsed> parse(byte[] blob) {
    return keyIdOf(blob).map(keyId -> {
      int headerLength = headerLength(blob);
      String keyStoreId = new String(blob, 1 + KEY_ID_BYTES + 1, headerLength - (1 + KEY_ID_BYTES + 1),
          StandardCharsets.US_ASCII);
      return new Parsed(keyId, keyStoreId, Arrays.copyOf(blob, headerLength),
          Arrays.copyOfRange(blob, headerLength, blob.length));
    });
  }

  /**
   * The key id a blob of the shape of version 1 names, read without copying the blob: to find the key
   * before the blob is decrypted.
   */
  static Optional<String> keyIdOf(byte[] blob) {
    if (blob.length < 1 + KEY_ID_BYTES + 1 || blob[0] != VERSION
        || blob.length < headerLength(blob) + IV_AND_TAG_BYTES) {
      return Optional.empty();
    }
    ByteBuffer in = ByteBuffer.wrap(blob, 1, KEY_ID_BYTES);
    return Optional.of(new UUID(in.getLong(), in.getLong()).toString());
  }

  private static int headerLength(byte[] blob) {
    return 1 + KEY_ID_BYTES + 1 + Byte.toUnsignedInt(blob[1 + KEY_ID_BYTES]);
  }
}
