package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.security.SecureRandom;
import java.util.Arrays;
import java.util.function.Function;

/**
 * The secret half of an access key. It never shows its text: {@link #toString()} is redacted, and
 * the characters only leave this class on loan, to be sealed, signed with or handed once to the user
 * they were generated for.
 */
public final class SecretAccessKey {
  /** What AWS secret access keys are made of, so that clients and tools that check them accept ours. */
  private static final String RANDOM_ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  private static final int RANDOM_LENGTH = 40;

  private final char[] chars;

  private SecretAccessKey(char[] chars) {
    this.chars = chars;
  }

  /** Copies {@code chars}; the caller may wipe its array afterwards. */
  public static SecretAccessKey of(char[] chars) {
    checkNotNull(chars, "chars");
    checkArgument(chars.length > 0, "a secret access key must not be empty");
    return new SecretAccessKey(chars.clone());
  }

  /** A fresh 40-character secret, as long as AWS's and from the same alphabet. */
  public static SecretAccessKey random(SecureRandom random) {
    checkNotNull(random, "random");
    char[] chars = new char[RANDOM_LENGTH];
    for (int i = 0; i < chars.length; i++) {
      chars[i] = RANDOM_ALPHABET.charAt(random.nextInt(RANDOM_ALPHABET.length()));
    }
    return new SecretAccessKey(chars);
  }

  /**
   * Lends the characters to {@code use} and wipes the loaned copy afterwards; {@code use} must not
   * keep the array.
   */
  public <T> T withChars(Function<char[], T> use) {
    char[] copy = chars.clone();
    try {
      return use.apply(copy);
    } finally {
      Arrays.fill(copy, '\0');
    }
  }

  @Override
  public String toString() {
    return "SecretAccessKey[redacted]";
  }
}
