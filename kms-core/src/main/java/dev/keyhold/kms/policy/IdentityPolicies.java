package dev.keyhold.kms.policy;

import static com.google.common.base.Preconditions.checkNotNull;
import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.pattern;
import static dev.keyhold.kms.error.Validation.required;

import com.google.common.base.Throwables;
import com.google.common.cache.CacheBuilder;
import com.google.common.cache.CacheLoader;
import com.google.common.cache.LoadingCache;
import com.google.common.collect.ImmutableList;
import com.google.common.util.concurrent.UncheckedExecutionException;
import dev.keyhold.kms.metadata.MetadataStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The identity policies of principals, as IAM's inline policies of a user or role: each named, kept in
 * the metadata store, seen by every node. A role session is allowed what its role's policies allow.
 *
 * <p>The {@link Authorizer} reads a principal's policies parsed, from memory; a node forgets a
 * principal's when any node changes them (the store's publication on commit), or everything after
 * it may have missed a change, so a change holds on every node within a second.
 */
public final class IdentityPolicies {
  /** The policy {@code credentials create --administrator} attaches. */
  public static final String ADMINISTRATOR = "KeyholdAdministrator";
  /** What it allows: the custom key store operations, which AWS authorizes by identity policies alone. */
  public static final String ADMINISTRATOR_DOCUMENT = """
      {"Version": "2012-10-17", "Statement": [{
        "Sid": "KeyStoreAdministration", "Effect": "Allow",
        "Action": ["kms:CreateCustomKeyStore", "kms:DescribeCustomKeyStores", "kms:UpdateCustomKeyStore",
                   "kms:ConnectCustomKeyStore", "kms:DisconnectCustomKeyStore", "kms:DeleteCustomKeyStore"],
        "Resource": "*"}]}""";

  /** The metadata store topic on which a change publishes the principal's ARN. */
  private static final String CHANGED = "keyhold_changed_identity_policies";
  private static final Pattern POLICY_NAME = Pattern.compile("[\\w+=,.@-]+");
  private static final int MAX_POLICY_NAME = 128;
  private static final int MAX_CACHED_PRINCIPALS = 10_000;

  private final MetadataStore metadata;
  private final LoadingCache<String, ImmutableList<Policy>> byPrincipal;

  public IdentityPolicies(MetadataStore metadata) {
    this.metadata = checkNotNull(metadata, "metadata");
    byPrincipal = CacheBuilder.newBuilder().maximumSize(MAX_CACHED_PRINCIPALS).build(CacheLoader.from(this::read));
    metadata.subscribe(CHANGED, byPrincipal::invalidate, byPrincipal::invalidateAll);
  }

  /**
   * Attaches {@code document} to {@code principalArn} as its policy {@code policyName}, replacing one of
   * that name, as IAM's PutUserPolicy.
   *
   * @throws dev.keyhold.kms.error.KmsException {@code ValidationException} for a bad name,
   *     {@code MalformedPolicyDocumentException} or {@code LimitExceededException} for a document
   *     {@link Policy#parseIdentityPolicy} refuses
   */
  public void put(String principalArn, String policyName, String document) {
    checkNotNull(principalArn, "principalArn");
    checkName(policyName);
    String parsed = Policy.parseIdentityPolicy(document).document();
    metadata.inTransaction(c -> {
      try (PreparedStatement update = c.prepareStatement(
          "UPDATE identity_policies SET document = ? WHERE principal_arn = ? AND policy_name = ?")) {
        update.setString(1, parsed);
        update.setString(2, principalArn);
        update.setString(3, policyName);
        if (update.executeUpdate() == 0) {
          insert(c, principalArn, policyName, parsed);
        }
      }
      metadata.publishOnCommit(c, CHANGED, principalArn);
      return null;
    });
  }

  /** The document of {@code principalArn}'s policy {@code policyName}, as it was put; empty if none. */
  public Optional<String> get(String principalArn, String policyName) {
    checkNotNull(principalArn, "principalArn");
    checkName(policyName);
    return metadata.inTransaction(c -> {
      try (PreparedStatement select = c.prepareStatement(
          "SELECT document FROM identity_policies WHERE principal_arn = ? AND policy_name = ?")) {
        select.setString(1, principalArn);
        select.setString(2, policyName);
        try (ResultSet row = select.executeQuery()) {
          return row.next() ? Optional.of(row.getString(1)) : Optional.empty();
        }
      }
    });
  }

  /** The names of {@code principalArn}'s policies, sorted. */
  public ImmutableList<String> names(String principalArn) {
    checkNotNull(principalArn, "principalArn");
    return metadata.inTransaction(c -> {
      try (PreparedStatement select = c.prepareStatement(
          "SELECT policy_name FROM identity_policies WHERE principal_arn = ? ORDER BY policy_name")) {
        select.setString(1, principalArn);
        try (ResultSet rows = select.executeQuery()) {
          ImmutableList.Builder<String> names = ImmutableList.builder();
          while (rows.next()) {
            names.add(rows.getString(1));
          }
          return names.build();
        }
      }
    });
  }

  /** Detaches {@code principalArn}'s policy {@code policyName}; false if it has none of that name. */
  public boolean delete(String principalArn, String policyName) {
    checkNotNull(principalArn, "principalArn");
    checkName(policyName);
    return metadata.inTransaction(c -> {
      try (PreparedStatement delete = c.prepareStatement(
          "DELETE FROM identity_policies WHERE principal_arn = ? AND policy_name = ?")) {
        delete.setString(1, principalArn);
        delete.setString(2, policyName);
        if (delete.executeUpdate() == 0) {
          return false;
        }
      }
      metadata.publishOnCommit(c, CHANGED, principalArn);
      return true;
    });
  }

  /** The parsed policies of {@code principalArn}, from memory after the first read. */
  ImmutableList<Policy> of(String principalArn) {
    try {
      return byPrincipal.getUnchecked(principalArn);
    } catch (UncheckedExecutionException e) {
      // the store's own exception, so that a database that does not answer is answered as such
      Throwables.throwIfUnchecked(e.getCause());
      throw e;
    }
  }

  private ImmutableList<Policy> read(String principalArn) {
    return metadata.inTransaction(c -> {
      try (PreparedStatement select = c.prepareStatement(
          "SELECT document FROM identity_policies WHERE principal_arn = ? ORDER BY policy_name")) {
        select.setString(1, principalArn);
        try (ResultSet rows = select.executeQuery()) {
          ImmutableList.Builder<Policy> policies = ImmutableList.builder();
          while (rows.next()) {
            policies.add(Policy.parseIdentityPolicy(rows.getString(1)));
          }
          return policies.build();
        }
      }
    });
  }

  private static void insert(Connection c, String principalArn, String policyName, String document)
      throws SQLException {
    try (PreparedStatement insert = c.prepareStatement(
        "INSERT INTO identity_policies (principal_arn, policy_name, document) VALUES (?, ?, ?)")) {
      insert.setString(1, principalArn);
      insert.setString(2, policyName);
      insert.setString(3, document);
      insert.executeUpdate();
    }
  }

  private static void checkName(String policyName) {
    pattern(length(required(policyName, "policyName"), "policyName", 1, MAX_POLICY_NAME), "policyName", POLICY_NAME);
  }
}
