package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.function.Function;

/**
 * A PIN or password for a token. It never shows its text: {@link #toString()} is redacted, and the
 * characters only leave this class towards the PKCS#11 module.
 *
 * <p>Instances are immutable; {@link #concat} builds the {@code user:password} form that AWS CloudHSM
 * expects without the caller ever holding the joined text.
 */
public final class Pin {
  private static final String RANDOM_ALPHABET =
      "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

  private final char[] chars;

  private Pin(char[] chars) {
    this.chars = chars;
  }

  /** Copies {@code chars}; the caller may wipe its array afterwards. */
  public static Pin of(char[] chars) {
    checkNotNull(chars, "chars");
    checkArgument(chars.length > 0, "a PIN must not be empty");
    return new Pin(chars.clone());
  }

  /** A fresh random PIN of {@code length} letters and digits, for new tokens and password rotation. */
  public static Pin random(SecureRandom random, int length) {
    checkArgument(length > 0, "length must be positive: %s", length);
    char[] chars = new char[length];
    for (int i = 0; i < length; i++) {
      chars[i] = RANDOM_ALPHABET.charAt(random.nextInt(RANDOM_ALPHABET.length()));
    }
    return new Pin(chars);
  }

  /** Reads a PIN from an environment variable, for operators who must not put it on a command line. */
  public static Pin fromEnvironment(String variable) {
    String value = System.getenv(variable);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("environment variable " + variable + " is not set");
    }
    return new Pin(value.toCharArray());
  }

  /** Reads a PIN from the first line of a file (UTF-8); the file itself is the operator's to protect. */
  public static Pin fromFile(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    try {
      CharBuffer decoded = StandardCharsets.UTF_8.decode(ByteBuffer.wrap(bytes));
      int end = 0;
      while (end < decoded.limit() && decoded.get(end) != '\n' && decoded.get(end) != '\r') {
        end++;
      }
      char[] line = new char[end];
      decoded.get(line);
      Arrays.fill(decoded.array(), '\0');
      if (line.length == 0) {
        throw new IllegalArgumentException("PIN file " + file + " is empty");
      }
      return new Pin(line);
    } finally {
      Arrays.fill(bytes, (byte) 0);
    }
  }

  /** Returns {@code this + separator + other}, e.g. {@code kmsuser:password} for AWS CloudHSM. */
  Pin concat(String prefix, char separator) {
    char[] joined = new char[prefix.length() + 1 + chars.length];
    prefix.getChars(0, prefix.length(), joined, 0);
    joined[prefix.length()] = separator;
    System.arraycopy(chars, 0, joined, prefix.length() + 1, chars.length);
    return new Pin(joined);
  }

  /**
   * Lends the characters to {@code use} (to encrypt them for storage, say) and wipes the loaned copy
   * afterwards; {@code use} must not keep the array.
   */
  public <T> T withChars(Function<char[], T> use) {
    char[] copy = chars.clone();
    try {
      return use.apply(copy);
    } finally {
      Arrays.fill(copy, '\0');
    }
  }

  /** A fresh copy for one PKCS#11 call; the caller wipes it afterwards. */
  char[] copyChars() {
    return chars.clone();
  }

  /** Number of characters, for length rules such as a KeyStorePassword's 7 to 32. */
  public int length() {
    return chars.length;
  }

  /** Whether both hold the same text, compared in constant time. */
  public boolean sameAs(Pin other) {
    int difference = chars.length ^ other.chars.length;
    for (int i = 0; i < Math.min(chars.length, other.chars.length); i++) {
      difference |= chars[i] ^ other.chars[i];
    }
    return difference == 0;
  }

  /** Whether {@code text} occurs in this PIN's text; lets tests look for leaks without exposing it. */
  public boolean appearsIn(CharSequence text) {
    return text.toString().contains(CharBuffer.wrap(chars));
  }

  @Override
  public String toString() {
    return "Pin[redacted]";
  }
}
