package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.io.BaseEncoding;
import java.util.Arrays;

/**
 * Names one AES key on a token by its {@code CKA_LABEL} and {@code CKA_ID}. It holds no handle: a
 * {@link Token} resolves it through its handle cache.
 */
public final class AesKey {
  private final String label;
  private final byte[] id;
  private final int hash;

  private AesKey(String label, byte[] id) {
    this.label = label;
    this.id = id;
    this.hash = 31 * label.hashCode() + Arrays.hashCode(id);
  }

  public static AesKey of(String label, byte[] id) {
    checkNotNull(label, "label");
    checkNotNull(id, "id");
    checkArgument(!label.isEmpty(), "label must not be empty");
    checkArgument(id.length > 0, "id must not be empty");
    return new AesKey(label, id.clone());
  }

  public String label() {
    return label;
  }

  public byte[] id() {
    return id.clone();
  }

  byte[] idUnsafe() {
    return id;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AesKey other && other.label.equals(label) && Arrays.equals(other.id, id);
  }

  @Override
  public int hashCode() {
    return hash;
  }

  @Override
  public String toString() {
    return "AesKey[label=" + label + ", id=" + BaseEncoding.base16().lowerCase().encode(id) + "]";
  }
}
