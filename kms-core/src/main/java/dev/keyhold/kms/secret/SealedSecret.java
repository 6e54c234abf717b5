package dev.keyhold.kms.secret;

import static com.google.common.base.Preconditions.checkNotNull;

import java.util.Arrays;
import java.util.Base64;

/** A secret sealed by {@link MasterKey}: safe to store, useless without the master key. */
public final class SealedSecret {
  private final byte[] bytes;

  private SealedSecret(byte[] bytes) {
    this.bytes = bytes;
  }

  static SealedSecret of(byte[] bytes) {
    return new SealedSecret(bytes);
  }

  /** Reads the form {@link #toBase64()} wrote. */
  public static SealedSecret fromBase64(String text) {
    return new SealedSecret(Base64.getDecoder().decode(checkNotNull(text, "text")));
  }

  public String toBase64() {
    return Base64.getEncoder().encodeToString(bytes);
  }

  byte[] bytes() {
    return bytes.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SealedSecret other && Arrays.equals(other.bytes, bytes);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(bytes);
  }

  @Override
  public String toString() {
    return "SealedSecret[" + bytes.length + " bytes]";
  }
}
