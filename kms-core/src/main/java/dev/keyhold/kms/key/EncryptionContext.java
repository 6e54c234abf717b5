package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.Validation.violated;

import com.google.common.collect.ImmutableSortedMap;
import dev.keyhold.kms.error.Validation.Rule;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Comparator;
import java.util.Map;

/**
 * The canonical bytes of an encryption context, bound into every ciphertext as associated data: pairs
 * sorted by key (UTF-8 byte order, so the order a caller lists them in does not matter), then for
 * each a 2-byte key length, the key, a 2-byte value length, the value; preceded by a 2-byte count.
 * An absent and an empty context encode the same: {@code 00 00}.
 */
final class EncryptionContext {
  /** Every encoded length must fit its two bytes. */
  private static final int MAX_FIELD_BYTES = 0xFFFF;

  private EncryptionContext() {}

  static byte[] canonical(Map<String, String> context) {
    if (context == null || context.isEmpty()) {
      return new byte[2];
    }
    ImmutableSortedMap<byte[], byte[]> sorted = sortedUtf8(context);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writeLength(out, sorted.size());
    sorted.forEach((key, value) -> {
      writeLength(out, key.length);
      out.writeBytes(key);
      writeLength(out, value.length);
      out.writeBytes(value);
    });
    return out.toByteArray();
  }

  private static ImmutableSortedMap<byte[], byte[]> sortedUtf8(Map<String, String> context) {
    ImmutableSortedMap.Builder<byte[], byte[]> sorted = ImmutableSortedMap.orderedBy(UNSIGNED_BYTES);
    context.forEach((key, value) -> {
      if (key == null || value == null) {
        throw violated(Rule.CONTEXT_NULL);
      }
      sorted.put(key.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8));
    });
    return sorted.build();
  }

  private static void writeLength(ByteArrayOutputStream out, int length) {
    if (length > MAX_FIELD_BYTES) {
      throw violated(Rule.CONTEXT_TOO_LARGE);
    }
    out.write(length >>> 8);
    out.write(length);
  }

  private static final Comparator<byte[]> UNSIGNED_BYTES = java.util.Arrays::compareUnsigned;
}
