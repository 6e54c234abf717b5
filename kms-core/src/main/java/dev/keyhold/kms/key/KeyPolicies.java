package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.pattern;
import static dev.keyhold.kms.error.Validation.violated;

import dev.keyhold.kms.error.Validation.Rule;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.policy.Policy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * PutKeyPolicy, GetKeyPolicy and ListKeyPolicies. A key has one policy, named {@code default}; a new
 * key gets the default key policy (the account root may do everything). A document is stored as
 * given once {@link Policy#parse} takes it; the key carries it parsed ({@link ResolvedKey#policy()}).
 */
public final class KeyPolicies {
  static final String DEFAULT = "default";
  private static final Pattern POLICY_NAME = Pattern.compile("[\\w]+");

  private final MetadataStore metadata;
  private final KeyRecords keys;

  KeyPolicies(MetadataStore metadata, KeyRecords keys) {
    this.metadata = metadata;
    this.keys = keys;
  }

  /** PutKeyPolicy: replaces the key's policy after checking it is a well-formed IAM policy. */
  public void putKeyPolicy(String keyId, String policyName, String policy) {
    checkName(policyName);
    String document = Policy.parse(policy).document();
    String id = keys.keyIdOf(keyId);
    metadata.inTransaction(c -> {
      keys.current(c, id);
      try (PreparedStatement update = c.prepareStatement("UPDATE key_policies SET policy = ? WHERE key_id = ?")) {
        update.setString(1, document);
        update.setString(2, id);
        update.executeUpdate();
      }
      keys.changed(c, id);
      return null;
    });
  }

  /** GetKeyPolicy: the document as it was stored. */
  public GetKeyPolicyResponse getKeyPolicy(String keyId, String policyName) {
    checkName(policyName);
    return new GetKeyPolicyResponse(keys.resolve(keyId).policy().document(), DEFAULT);
  }

  /** ListKeyPolicies: always {@code ["default"]}. */
  public List<String> listKeyPolicies(String keyId) {
    keys.resolve(keyId);
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

  /** The policy document of {@code keyId}, read in the caller's transaction with the key's row. */
  static String read(Connection c, String keyId) throws SQLException {
    try (PreparedStatement select = c.prepareStatement("SELECT policy FROM key_policies WHERE key_id = ?")) {
      select.setString(1, keyId);
      try (ResultSet rows = select.executeQuery()) {
        if (!rows.next()) {
          throw new SQLException("key " + keyId + " has no policy row");
        }
        return rows.getString(1);
      }
    }
  }

  /** Every key's policy document by key id, read in the caller's transaction. */
  static Map<String, String> all(Connection c) throws SQLException {
    Map<String, String> policies = new HashMap<>();
    try (PreparedStatement select = c.prepareStatement("SELECT key_id, policy FROM key_policies");
        ResultSet rows = select.executeQuery()) {
      while (rows.next()) {
        policies.put(rows.getString(1), rows.getString(2));
      }
    }
    return policies;
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
      throw violated(Rule.POLICY_NAME);
    }
  }
}
