package dev.keyhold.kms.policy;

import com.google.common.base.Enums;
import com.google.common.collect.ImmutableList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.BiPredicate;

/**
 * One condition key under one condition operator of a statement's Condition, such as
 * {@code "StringEquals": {"kms:EncryptionContext:purpose": ["backup", "restore"]}}, read as IAM reads it:
 * the values of one key are alternatives.
 */
sealed interface Condition permits Condition.Comparison, Condition.NullCheck {
  boolean holds(Request request);

  /**
   * The condition, or empty if its operator is not one Keyhold reads.
   *
   * @param operator as written, e.g. {@code ForAllValues:StringLikeIfExists}
   * @param values the policy's values, as strings
   */
  static Optional<Condition> of(String operator, String key, List<String> values) {
    SetOperator set = SetOperator.of(operator);
    String name = operator.substring(set.prefix.length());
    boolean ifExists = name.endsWith(Comparison.IF_EXISTS);
    if (ifExists) {
      name = name.substring(0, name.length() - Comparison.IF_EXISTS.length());
    }
    String conditionKey = key.toLowerCase(Locale.ROOT);
    ImmutableList<String> policyValues = ImmutableList.copyOf(values);
    if (name.equals(NullCheck.NAME)) {
      return set == SetOperator.NONE && !ifExists
          ? Optional.of(new NullCheck(conditionKey, policyValues))
          : Optional.empty();
    }
    return Enums.getIfPresent(Operator.class, name).toJavaUtil()
        .map(comparison -> new Comparison(comparison, set, ifExists, conditionKey, policyValues));
  }

  /** How the values of a multi-valued key, such as {@code kms:EncryptionContextKeys}, combine. */
  enum SetOperator {
    /**
     * None: a positive operator holds if any value of the request matches any of the policy's, a
     * negated one if none does.
     */
    NONE(""),
    /** Some value of the request must satisfy the operator; none there, the condition fails. */
    FOR_ANY_VALUE("ForAnyValue:"),
    /** Every value of the request must satisfy the operator; none there, the condition holds. */
    FOR_ALL_VALUES("ForAllValues:");

    private final String prefix;

    SetOperator(String prefix) {
      this.prefix = prefix;
    }

    static SetOperator of(String operator) {
      if (operator.startsWith(FOR_ANY_VALUE.prefix)) {
        return FOR_ANY_VALUE;
      }
      return operator.startsWith(FOR_ALL_VALUES.prefix) ? FOR_ALL_VALUES : NONE;
    }
  }

  /** The comparing operators, named as in IAM; a negated one holds where its positive twin fails. */
  @SuppressWarnings("ImmutableEnumChecker") // the predicates are stateless method references
  enum Operator {
    StringEquals(String::equals, false),
    StringNotEquals(String::equals, true),
    StringEqualsIgnoreCase(String::equalsIgnoreCase, false),
    StringNotEqualsIgnoreCase(String::equalsIgnoreCase, true),
    StringLike(Wildcards::matches, false),
    StringNotLike(Wildcards::matches, true),
    // IAM compares ArnEquals like ArnLike: wildcards in each part of the ARN.
    ArnEquals(Wildcards::arnMatches, false),
    ArnLike(Wildcards::arnMatches, false),
    ArnNotEquals(Wildcards::arnMatches, true),
    ArnNotLike(Wildcards::arnMatches, true),
    Bool(String::equalsIgnoreCase, false);

    /** Whether a policy value (first) matches a request value (second). */
    private final BiPredicate<String, String> matches;
    private final boolean negated;

    Operator(BiPredicate<String, String> matches, boolean negated) {
      this.matches = matches;
      this.negated = negated;
    }
  }

  /**
   * A comparing operator on a key. A key the request lacks fails a positive operator and satisfies a
   * negated one, as IAM has it, unless {@code IfExists} makes every operator hold.
   */
  record Comparison(Operator operator, SetOperator set, boolean ifExists, String key, ImmutableList<String> values)
      implements Condition {
    static final String IF_EXISTS = "IfExists";

    @Override
    public boolean holds(Request request) {
      List<String> present = request.values(key);
      if (present.isEmpty() && ifExists) {
        return true;
      }
      return switch (set) {
        case NONE -> operator.negated != present.stream().anyMatch(this::matchesAnyValue);
        case FOR_ANY_VALUE -> present.stream().anyMatch(this::satisfiedBy);
        case FOR_ALL_VALUES -> present.stream().allMatch(this::satisfiedBy);
      };
    }

    private boolean satisfiedBy(String requestValue) {
      return operator.negated != matchesAnyValue(requestValue);
    }

    private boolean matchesAnyValue(String requestValue) {
      return values.stream().anyMatch(value -> operator.matches.test(value, requestValue));
    }
  }

  /** {@code Null}: {@code true} asks for the key to be missing from the request, {@code false} for it. */
  record NullCheck(String key, ImmutableList<String> values) implements Condition {
    static final String NAME = "Null";

    @Override
    public boolean holds(Request request) {
      boolean missing = request.values(key).isEmpty();
      return values.stream().anyMatch(value -> Boolean.parseBoolean(value) == missing);
    }
  }
}
