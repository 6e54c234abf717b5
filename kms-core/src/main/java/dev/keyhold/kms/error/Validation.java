package dev.keyhold.kms.error;

import static dev.keyhold.kms.error.KmsErrorType.ValidationException;

import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Every ValidationException kms-core answers, worded as AWS words it: the model's constraints
 * ({@code 1 validation error detected: Value 'x' at 'customKeyStoreName' failed to satisfy constraint:
 * Member must have length less than or equal to 256}), and the service's own checks ({@link Rule}).
 * Sensitive members never echo their value.
 */
public final class Validation {
  /** What {@link #text} allows. */
  private static final Pattern STORABLE_TEXT = Pattern.compile("[^\\u0000]*", Pattern.DOTALL);

  private Validation() {}

  /** The checks AWS's service makes beyond its model's constraints, in AWS's words. */
  public enum Rule {
    PENDING_WINDOW("PendingWindowInDays must be between 7 and 30"),
    NUMBER_OF_BYTES_REQUIRED("NumberOfBytes is required."),
    BYTES_OR_KEY_SPEC("Please specify either number of bytes or key spec."),
    TARGET_IS_ALIAS("TargetKeyId must be a key ID or key ARN, not an alias: %s"),
    ALIAS_PREFIX("Alias must start with the prefix \"alias/\". Please see "
        + "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"),
    POLICY_NAME("The only valid PolicyName is default."),
    CONTEXT_NULL("Encryption context keys and values must not be null."),
    CONTEXT_TOO_LARGE("The encryption context is too large."),
    STORE_ID_AND_NAME("You cannot specify both CustomKeyStoreId and CustomKeyStoreName in the same request.");

    private final String message;

    Rule(String message) {
      this.message = message;
    }
  }

  /** The ValidationException of {@code rule}, its {@code %s} filled with {@code arguments}. */
  public static KmsException violated(Rule rule, Object... arguments) {
    return new KmsException(ValidationException, String.format(rule.message, arguments));
  }

  /** Fails unless {@code value} is present. */
  public static <T> T required(T value, String member) {
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

  /**
   * As {@link #length}, for text the metadata store keeps or looks up: it must not contain U+0000,
   * which PostgreSQL's text cannot hold (AWS's model sets no pattern on these members; this is
   * Keyhold's, worded as AWS words a pattern, so that every metadata store refuses the same text).
   */
  public static String text(String value, String member, int min, int max) {
    length(value, member, min, max);
    return pattern(value, member, STORABLE_TEXT);
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

  /** As {@link #sensitiveLength} for a value given by its length alone, such as a byte string. */
  public static void sensitiveLength(int length, String member, int min, int max) {
    if (length < min || length > max) {
      throw violation("", member, true, length < min
          ? "Member must have length greater than or equal to " + min
          : "Member must have length less than or equal to " + max);
    }
  }

  /** Fails unless the list {@code member}, if present, has {@code min} to {@code max} members. */
  public static <T> List<T> count(List<T> list, String member, int min, int max) {
    if (list != null && (list.size() < min || list.size() > max)) {
      throw violation("", member, true, list.size() < min
          ? "Member must have length greater than or equal to " + min
          : "Member must have length less than or equal to " + max);
    }
    return list;
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
