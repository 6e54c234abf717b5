package dev.keyhold.kms.key;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A grant as ListGrants and ListRetirableGrants name it: {@code keyId} is the key's ARN, {@code name},
 * {@code retiringPrincipal} and {@code constraints} are null when the grant has none.
 */
public record GrantListEntry(String keyId, String grantId, String name, Instant creationDate,
    String granteePrincipal, String retiringPrincipal, String issuingAccount, List<String> operations,
    GrantConstraints constraints) {

  public GrantListEntry {
    operations = List.copyOf(operations);
  }

  /**
   * Whether this grant lets the caller {@code principalArn} of {@code accountId} run {@code operation}
   * (e.g. {@code Encrypt}) with {@code context}. An account's root as grantee stands for every caller
   * of that account, as it does in a key policy.
   */
  public boolean allows(String principalArn, String accountId, String operation, Map<String, String> context) {
    return grants(principalArn, accountId, operation) && (constraints == null || constraints.allow(context));
  }

  /**
   * Whether this grant lets the caller {@code principalArn} of {@code accountId} create a grant of
   * {@code operations} under {@code constraints}: it must allow CreateGrant, and the new grant be no
   * wider than it (its operations among these, its constraints at least as strict), as AWS requires.
   */
  public boolean allowsGrant(String principalArn, String accountId, List<String> operations,
      GrantConstraints constraints) {
    return grants(principalArn, accountId, "CreateGrant") && operations != null
        && this.operations.containsAll(operations)
        && (this.constraints == null || this.constraints.narrowedBy(constraints));
  }

  private boolean grants(String principalArn, String accountId, String operation) {
    boolean grantee = granteePrincipal.equals(principalArn)
        || granteePrincipal.equals("arn:aws:iam::" + accountId + ":root");
    return grantee && operations.contains(operation);
  }
}
