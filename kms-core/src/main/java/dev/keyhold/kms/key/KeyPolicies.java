package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.LimitExceededException;
import static dev.keyhold.kms.error.KmsErrorType.MalformedPolicyDocumentException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.pattern;
import static dev.keyhold.kms.error.Validation.required;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.metadata.MetadataStore;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * PutKeyPolicy, GetKeyPolicy and ListKeyPolicies. A key has one policy, named {@code default}; a new
 * key gets the default key policy (the account root may do everything). Documents are parsed as IAM
 * policy JSON and kept as given; enforcing them is the HTTP layer's work.
 */
public final class KeyPolicies {
  static final String DEFAULT = "default";
  private static final int MAX_POLICY_BYTES = 32_768;
  private static final Pattern POLICY_CHARACTERS = Pattern.compile("[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
  private static final Pattern POLICY_NAME = Pattern.compile("[\\w]+");
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final Set<String> DOCUMENT_FIELDS = Set.of("Version", "Id", "Statement");
  private static final Set<String> STATEMENT_FIELDS = Set.of(
      "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition");
  private static final Set<String> PRINCIPAL_TYPES = Set.of("AWS", "Service", "Federated", "CanonicalUser");

  private final MetadataStore metadata;
  private final KmsKeys keys;

  KeyPolicies(MetadataStore metadata, KmsKeys keys) {
    this.metadata = metadata;
    this.keys = keys;
  }

  /** PutKeyPolicy: replaces the key's policy after checking it is a well-formed IAM policy. */
  public void putKeyPolicy(String keyId, String policyName, String policy) {
    checkName(policyName);
    String document = check(policy);
    String id = keys.keyIdOf(required(keyId, "keyId"));
    metadata.inTransaction(c -> {
      keys.current(c, id);
      try (PreparedStatement update = c.prepareStatement("UPDATE key_policies SET policy = ? WHERE key_id = ?")) {
        update.setString(1, document);
        update.setString(2, id);
        update.executeUpdate();
      }
      return null;
    });
  }

  public GetKeyPolicyResponse getKeyPolicy(String keyId, String policyName) {
    checkName(policyName);
    KeyRecord key = keys.resolve(required(keyId, "keyId"));
    String policy = metadata.inTransaction(c -> {
      try (PreparedStatement select = c.prepareStatement("SELECT policy FROM key_policies WHERE key_id = ?")) {
        select.setString(1, key.keyId());
        try (ResultSet rows = select.executeQuery()) {
          if (!rows.next()) {
            throw keys.gone(key.keyId()); // deleted since the key was resolved
          }
          return rows.getString(1);
        }
      }
    });
    return new GetKeyPolicyResponse(policy, DEFAULT);
  }

  /** ListKeyPolicies: always {@code ["default"]}. */
  public List<String> listKeyPolicies(String keyId) {
    keys.resolve(required(keyId, "keyId"));
    return List.of(DEFAULT);
  }

  /** Gives a new key its policy, in the transaction that records the key. */
  static void insert(Connection c, KeyRecord key, String policy) throws SQLException {
    try (PreparedStatement insert =
        c.prepareStatement("INSERT INTO key_policies (key_id, policy_name, policy) VALUES (?, ?, ?)")) {
      insert.setString(1, key.keyId());
      insert.setString(2, DEFAULT);
      insert.setString(3, policy);
      insert.executeUpdate();
    }
  }

  public static String defaultPolicy(Account account) {
    return "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n"
        + "    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n"
        + "    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::" + account.accountId() + ":root\"\n    },\n"
        + "    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}";
  }

  private static void checkName(String policyName) {
    String name = pattern(length(policyName, "policyName", 1, 128), "policyName", POLICY_NAME);
    if (name != null && !name.equals(DEFAULT)) {
      throw new KmsException(ValidationException, "The only valid PolicyName is default.");
    }
  }

  /** The document, if it is a policy AWS would take. */
  public static String check(String policy) {
    String document = pattern(required(policy, "policy"), "policy", POLICY_CHARACTERS);
    if (document.getBytes(StandardCharsets.UTF_8).length > MAX_POLICY_BYTES) {
      throw new KmsException(LimitExceededException,
          "The key policy exceeds the maximum size of " + MAX_POLICY_BYTES + " bytes.");
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
    for (JsonNode statement : statements.isArray() ? statements : List.of(statements)) {
      checkStatement(statement);
    }
    return document;
  }

  private static void checkStatement(JsonNode statement) {
    if (!statement.isObject()) {
      throw malformed("Each Statement must be a JSON object.");
    }
    onlyFields(statement, STATEMENT_FIELDS, "Statement");
    String effect = statement.path("Effect").asText("");
    if (!effect.equals("Allow") && !effect.equals("Deny")) {
      throw malformed("Effect must be Allow or Deny.");
    }
    JsonNode principal = exactlyOne(statement, "Principal", "NotPrincipal");
    if (!(principal.isTextual() && principal.asText().equals("*"))) {
      if (!principal.isObject() || principal.isEmpty()) {
        throw malformed("Principal must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::...\"}.");
      }
      principal.fields().forEachRemaining(entry -> {
        if (!PRINCIPAL_TYPES.contains(entry.getKey())) {
          throw malformed("Unknown principal type " + entry.getKey() + ".");
        }
        stringOrStrings(entry.getValue(), "Principal " + entry.getKey());
      });
    }
    stringOrStrings(exactlyOne(statement, "Action", "NotAction"), "Action");
    stringOrStrings(exactlyOne(statement, "Resource", "NotResource"), "Resource");
    JsonNode condition = statement.get("Condition");
    if (condition != null) {
      if (!condition.isObject()) {
        throw malformed("Condition must be an object of condition operators.");
      }
      for (Iterator<JsonNode> operators = condition.elements(); operators.hasNext(); ) {
        if (!operators.next().isObject()) {
          throw malformed("Each condition operator must map condition keys to values.");
        }
      }
    }
  }

  private static JsonNode exactlyOne(JsonNode statement, String field, String negated) {
    JsonNode value = statement.get(field);
    JsonNode negation = statement.get(negated);
    if ((value == null) == (negation == null)) {
      throw malformed("Each Statement needs exactly one of " + field + " and " + negated + ".");
    }
    return value != null ? value : negation;
  }

  private static void stringOrStrings(JsonNode node, String what) {
    boolean strings = node.isTextual()
        || (node.isArray() && !node.isEmpty() && java.util.stream.StreamSupport.stream(node.spliterator(), false)
            .allMatch(JsonNode::isTextual));
    if (!strings) {
      throw malformed(what + " must be a string or a list of strings.");
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
}
