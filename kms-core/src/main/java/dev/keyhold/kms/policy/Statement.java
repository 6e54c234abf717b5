package dev.keyhold.kms.policy;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.collect.ImmutableList.toImmutableList;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

/** One statement of a key policy or an identity policy. */
final class Statement {
  private static final String ANY = "*";

  /** Whom a statement reaches of a request's caller. */
  enum Reach {
    /** Not the caller, or not the request (its action, resource or conditions). */
    NONE,
    /** The caller only as a principal of the account the statement names. */
    ACCOUNT,
    /** The caller by a name of its own, or as anyone: {@code "*"}, NotPrincipal, an identity policy's statement. */
    CALLER
  }

  private final boolean deny;
  /** Empty for an identity policy's statement, which reaches the principal it is attached to. */
  private final Optional<Element> principals;
  private final Element actions;
  private final Element resources;
  private final ImmutableList<Condition> conditions;
  private final boolean unreadableCondition;

  private Statement(
      boolean deny,
      Optional<Element> principals,
      Element actions,
      Element resources,
      ImmutableList<Condition> conditions,
      boolean unreadableCondition) {
    this.deny = deny;
    this.principals = principals;
    this.actions = actions;
    this.resources = resources;
    this.conditions = conditions;
    this.unreadableCondition = unreadableCondition;
  }

  /**
   * Reads one statement of a policy of {@code kind}.
   *
   * @throws IllegalArgumentException with the message for MalformedPolicyDocumentException
   */
  static Statement parse(JsonNode statement, Policy.Kind kind) {
    String effect = statement.path("Effect").asText();
    checkArgument(effect.equals("Allow") || effect.equals("Deny"), "Effect must be Allow or Deny.");
    ImmutableList.Builder<Condition> conditions = ImmutableList.builder();
    boolean unreadable = false;
    for (Map.Entry<String, JsonNode> operator : statement.path("Condition").properties()) {
      for (Map.Entry<String, JsonNode> key : operator.getValue().properties()) {
        Optional<Condition> read = conditionValues(key.getValue())
            .flatMap(values -> Condition.of(operator.getKey(), key.getKey(), values));
        read.ifPresent(conditions::add);
        unreadable |= read.isEmpty();
      }
    }
    return new Statement(
        effect.equals("Deny"),
        kind == Policy.Kind.KEY_POLICY
            ? Optional.of(Element.parse(statement, "Principal", Statement::principalNames))
            : Optional.empty(),
        Element.parse(statement, "Action", node -> strings(node, "Action").stream()
            .map(action -> action.toLowerCase(Locale.ROOT))
            .collect(toImmutableList())),
        Element.parse(statement, "Resource", node -> strings(node, "Resource")),
        conditions.build(),
        unreadable);
  }

  boolean isDeny() {
    return deny;
  }

  /** How far the statement reaches {@code request}: not at all unless its action, resource and conditions do. */
  Reach reach(Request request) {
    boolean applies = actions.covers(action -> Wildcards.matches(action, request.action()))
        && resources.covers(resource -> Wildcards.arnMatches(resource, request.resource()))
        && conditionsHold(request);
    return applies ? principals.map(element -> reach(element, request.identity())).orElse(Reach.CALLER) : Reach.NONE;
  }

  /**
   * Principal reaches a caller that counts as any principal it names, by its own name if it names one;
   * NotPrincipal spares only a caller all of whose principals it names, which is why IAM tells authors
   * to list the account beside the user.
   */
  private static Reach reach(Element principals, Request.Identity caller) {
    if (principals.values().contains(ANY)) {
      return principals.negated() ? Reach.NONE : Reach.CALLER;
    }
    if (principals.negated()) {
      return principals.values().containsAll(caller.principals()) ? Reach.NONE : Reach.CALLER;
    }
    if (principals.values().stream().anyMatch(caller.ownNames()::contains)) {
      return Reach.CALLER;
    }
    return principals.values().contains(caller.accountId()) ? Reach.ACCOUNT : Reach.NONE;
  }

  private boolean conditionsHold(Request request) {
    // A condition Keyhold cannot read (an operator it does not know, a value that is no string,
    // number or boolean) holds in a Deny and fails in an Allow: either way the caller gets no more
    // than the policy could have meant.
    if (unreadableCondition) {
      return deny;
    }
    return conditions.stream().allMatch(condition -> condition.holds(request));
  }

  /** A condition key's values: a string, number or boolean, or a list of them. */
  private static Optional<List<String>> conditionValues(JsonNode node) {
    List<JsonNode> values = oneOrMany(node);
    boolean scalars = values.stream().allMatch(value -> value.isTextual() || value.isNumber() || value.isBoolean());
    return scalars ? Optional.of(values.stream().map(JsonNode::asText).collect(toImmutableList())) : Optional.empty();
  }

  /**
   * The names {@link Request#principalName} compares: {@code "*"}, or the AWS principals of an object.
   * Only AWS principals can name a Keyhold caller; Service, Federated and CanonicalUser ones never do.
   */
  private static ImmutableList<String> principalNames(JsonNode principal) {
    checkArgument((principal.isTextual() && principal.textValue().equals(ANY)) || principal.isObject(),
        "Principal must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::...\"}.");
    if (principal.isTextual()) {
      return ImmutableList.of(ANY);
    }
    JsonNode aws = principal.path("AWS");
    return aws.isMissingNode()
        ? ImmutableList.of()
        : strings(aws, "Principal AWS").stream().map(Request::principalName).collect(toImmutableList());
  }

  /** A string or a non-empty list of strings, as a policy gives Principal, Action and Resource. */
  static ImmutableList<String> strings(JsonNode node, String element) {
    List<JsonNode> values = oneOrMany(node);
    checkArgument(!values.isEmpty() && values.stream().allMatch(JsonNode::isTextual),
        "%s must be a string or a list of strings.", element);
    return values.stream().map(JsonNode::textValue).collect(toImmutableList());
  }

  /** A policy's way to give one value or several: the value itself or a list of them. */
  static List<JsonNode> oneOrMany(JsonNode node) {
    return node.isArray() ? ImmutableList.copyOf(node) : List.of(node);
  }

  /** Principal, Action or Resource, or its Not- form: the values it lists and whether it excepts them. */
  private record Element(ImmutableList<String> values, boolean negated) {
    static Element parse(JsonNode statement, String name, Function<JsonNode, ImmutableList<String>> read) {
      JsonNode listed = statement.get(name);
      JsonNode excepted = statement.get("Not" + name);
      checkArgument(
          (listed == null) != (excepted == null), "Each Statement needs exactly one of %s and Not%s.", name, name);
      return new Element(read.apply(listed != null ? listed : excepted), excepted != null);
    }

    /** Whether the statement reaches a request whose action or resource the predicate matches. */
    boolean covers(Predicate<String> matches) {
      return negated != values.stream().anyMatch(matches);
    }
  }
}
