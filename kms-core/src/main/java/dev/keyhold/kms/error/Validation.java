package dev.keyhold.kms.error;

import static dev.keyhold.kms.error.KmsErrorType.ValidationException;

import java.util.Arrays;
import java.util.regex.Pattern;

/**
 * Request checks that answer exactly as AWS does:
 * {@code 1 validation error detected: Value 'x' at 'customKeyStoreName' failed to satisfy constraint:
 * Member must have length less than or equal to 256}. Sensitive members never echo their value.
 */
public final class Validation {
  private Validation() {}

  /** Fails unless {@code value} is present. */
  public static String required(String value, String member) {
    if (value == null) {
      throw new KmsException(ValidationException, "1 validation error detected: Value null at '" + member
          + "' failed to satisfy constraint: Member must not be null");
    }
    return value;
  }

  /** Fails unless {@code value}, if present, has {@code min} to {@code max} characters. */
  public static String length(String value, String member, int min, int max) {
    if (value != null && value.length() < min) {
      throw violation(value, member, false, "Member must have length greater than or equal to " + min);
    }
    if (value != null && value.length() > max) {
      throw violation(value, member, false, "Member must have length less than or equal to " + max);
    }
    return value;
  }

  /** As {@link #length}, without echoing the value. */
  public static String sensitiveLength(String value, String member, int min, int max) {
    if (value != null && (value.length() < min || value.length() > max)) {
      throw violation(value, member, true, value.length() < min
          ? "Member must have length greater than or equal to " + min
          : "Member must have length less than or equal to " + max);
    }
    return value;
  }

  /** Fails unless {@code value}, if present, matches {@code pattern}. */
  public static String pattern(String value, String member, Pattern pattern) {
    if (value != null && !pattern.matcher(value).matches()) {
      throw violation(value, member, false,
          "Member must satisfy regular expression pattern: " + pattern.pattern());
    }
    return value;
  }

  /** Fails unless {@code value}, if present, is between {@code min} and {@code max}. */
  public static Integer range(Integer value, String member, int min, int max) {
    if (value != null && value < min) {
      throw violation(value.toString(), member, false, "Member must have value greater than or equal to " + min);
    }
    if (value != null && value > max) {
      throw violation(value.toString(), member, false, "Member must have value less than or equal to " + max);
    }
    return value;
  }

  /** The constant named {@code value}, if present; fails unless {@code type} has one. */
  public static <E extends Enum<E>> E enumValue(Class<E> type, String value, String member) {
    if (value == null) {
      return null;
    }
    for (E constant : type.getEnumConstants()) {
      if (constant.name().equals(value)) {
        return constant;
      }
    }
    throw violation(value, member, false, "Member must satisfy enum value set: "
        + Arrays.toString(type.getEnumConstants()));
  }

  private static KmsException violation(String value, String member, boolean sensitive, String constraint) {
    String shown = sensitive ? "Value" : "Value '" + value + "'";
    return new KmsException(ValidationException,
        "1 validation error detected: " + shown + " at '" + member + "' failed to satisfy constraint: " + constraint);
  }
}
