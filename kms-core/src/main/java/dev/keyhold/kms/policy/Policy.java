package dev.keyhold.kms.policy;

import static com.google.common.collect.ImmutableList.toImmutableList;
import static dev.keyhold.kms.error.KmsErrorType.LimitExceededException;
import static dev.keyhold.kms.error.KmsErrorType.MalformedPolicyDocumentException;
import static dev.keyhold.kms.error.Validation.pattern;
import static dev.keyhold.kms.error.Validation.required;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableList;
import dev.keyhold.kms.error.KmsException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A key policy or an identity policy: the one reading of a policy document, used both when a policy
 * is stored (a document that does not parse is refused) and when it is evaluated ({@link Authorizer}
 * puts a key's policy, its caller's identity policies and its grants together, as IAM does; Keyhold
 * has no permission boundaries or SCPs).
 *
 * <p>Immutable and thread-safe; a key's parsed policy is kept with the key ({@code ResolvedKey}), a
 * principal's identity policies by {@link IdentityPolicies}.
 */
public final class Policy {
  /** What one policy says of a request; the two denials differ only in what the caller is told. */
  enum Decision {
    /** A statement that names the caller (or every caller) allows, and none denies. */
    ALLOW,
    /**
     * Only statements that name the caller's account allow, and none denies: in a key policy the
     * account then delegates to its principals' identity policies ({@link AccountPrincipal}).
     */
    ALLOW_FOR_ACCOUNT,
    EXPLICIT_DENY,
    IMPLICIT_DENY
  }

  /** The two kinds of document, which differ in their principals and their size limit. */
  enum Kind {
    /** A resource-based policy: each statement names its principals. */
    KEY_POLICY("key policy", 32_768),
    /** Attached to a principal: statements apply to it and name no principal, as IAM's. */
    IDENTITY_POLICY("identity policy", 10_240);

    private final String description;
    private final int maxBytes;

    Kind(String description, int maxBytes) {
      this.description = description;
      this.maxBytes = maxBytes;
    }
  }

  private static final Pattern POLICY_CHARACTERS = Pattern.compile("[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final Set<String> DOCUMENT_FIELDS = Set.of("Version", "Id", "Statement");
  private static final Set<String> STATEMENT_FIELDS = Set.of(
      "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition");
  private static final Set<String> PRINCIPAL_TYPES = Set.of("AWS", "Service", "Federated", "CanonicalUser");

  private final String document;
  private final ImmutableList<Statement> statements;

  private Policy(String document, ImmutableList<Statement> statements) {
    this.document = document;
    this.statements = statements;
  }

  /**
   * Reads a key policy document as AWS would take it.
   *
   * @throws KmsException {@code ValidationException} if it is absent or has characters a policy may
   *     not, {@code LimitExceededException} if it is over 32 KiB, {@code MalformedPolicyDocumentException}
   *     if it is not an IAM policy
   */
  public static Policy parse(String document) {
    return parse(document, Kind.KEY_POLICY);
  }

  /**
   * Reads an identity policy document as IAM would take it: as a key policy, but no statement may
   * name a principal, and it may be 10 KiB at most.
   *
   * @throws KmsException as {@link #parse}
   */
  public static Policy parseIdentityPolicy(String document) {
    return parse(document, Kind.IDENTITY_POLICY);
  }

  private static Policy parse(String document, Kind kind) {
    pattern(required(document, "policy"), "policy", POLICY_CHARACTERS);
    if (document.getBytes(StandardCharsets.UTF_8).length > kind.maxBytes) {
      throw new KmsException(LimitExceededException,
          "The " + kind.description + " exceeds the maximum size of " + kind.maxBytes + " bytes.");
    }
    JsonNode root;
    try {
      root = JSON.readTree(document);
    } catch (JsonProcessingException e) {
      throw malformed("The policy is not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw malformed("The policy must be a JSON object.");
    }
    onlyFields(root, DOCUMENT_FIELDS, "policy");
    JsonNode version = root.get("Version");
    if (version != null && !(version.asText().equals("2012-10-17") || version.asText().equals("2008-10-17"))) {
      throw malformed("Version must be 2012-10-17 or 2008-10-17.");
    }
    JsonNode statements = root.get("Statement");
    if (statements == null || (statements.isArray() && statements.isEmpty())) {
      throw malformed("The policy must have at least one Statement.");
    }
    try {
      return new Policy(document, Statement.oneOrMany(statements).stream()
          .peek(statement -> checkShape(statement, kind))
          .map(statement -> Statement.parse(statement, kind))
          .collect(toImmutableList()));
    } catch (IllegalArgumentException e) {
      throw malformed(e.getMessage());
    }
  }

  /** The document as it was given, byte for byte. */
  public String document() {
    return document;
  }

  /**
   * An explicit Deny wins (one that names the caller's account reaches every caller of it); else an
   * Allow that names the caller allows; else an Allow that names only its account allows for the
   * account; else the request is implicitly denied.
   */
  Decision decide(Request request) {
    boolean allowed = false;
    boolean allowedForAccount = false;
    for (Statement statement : statements) {
      Statement.Reach reach = statement.reach(request);
      if (reach == Statement.Reach.NONE) {
        continue;
      }
      if (statement.isDeny()) {
        return Decision.EXPLICIT_DENY;
      }
      allowed |= reach == Statement.Reach.CALLER;
      allowedForAccount |= reach == Statement.Reach.ACCOUNT;
    }
    return allowed ? Decision.ALLOW : allowedForAccount ? Decision.ALLOW_FOR_ACCOUNT : Decision.IMPLICIT_DENY;
  }

  /** What a statement must look like beyond what {@link Statement#parse} reads. */
  private static void checkShape(JsonNode statement, Kind kind) {
    if (!statement.isObject()) {
      throw malformed("Each Statement must be a JSON object.");
    }
    onlyFields(statement, STATEMENT_FIELDS, "Statement");
    if (kind == Kind.IDENTITY_POLICY) {
      for (String prohibited : List.of("Principal", "NotPrincipal")) {
        if (statement.has(prohibited)) {
          throw malformed("Has prohibited field " + prohibited + ".");
        }
      }
    } else {
      checkPrincipalShape(statement.has("Principal") ? statement.get("Principal") : statement.get("NotPrincipal"));
    }
    JsonNode condition = statement.get("Condition");
    if (condition != null) {
      if (!condition.isObject()) {
        throw malformed("Condition must be an object of condition operators.");
      }
      for (JsonNode operator : condition) {
        if (!operator.isObject()) {
          throw malformed("Each condition operator must map condition keys to values.");
        }
      }
    }
  }

  private static void checkPrincipalShape(JsonNode principal) {
    if (principal != null && principal.isObject()) {
      if (principal.isEmpty()) {
        throw malformed("Principal must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::...\"}.");
      }
      for (Map.Entry<String, JsonNode> type : principal.properties()) {
        if (!PRINCIPAL_TYPES.contains(type.getKey())) {
          throw malformed("Unknown principal type " + type.getKey() + ".");
        }
        Statement.strings(type.getValue(), "Principal " + type.getKey());
      }
    }
  }

  private static void onlyFields(JsonNode node, Set<String> allowed, String where) {
    node.fieldNames().forEachRemaining(name -> {
      if (!allowed.contains(name)) {
        throw malformed("Unknown field " + name + " in the " + where + ".");
      }
    });
  }

  private static KmsException malformed(String message) {
    return new KmsException(MalformedPolicyDocumentException, message);
  }

  @Override
  public String toString() {
    return "Policy[" + statements.size() + " statements]";
  }
}
