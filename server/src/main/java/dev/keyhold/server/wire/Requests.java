package dev.keyhold.server.wire;

import dev.keyhold.kms.key.Tag;
import java.util.List;

/**
 * The requests whose members kms-core takes as plain arguments rather than as a record of its own.
 * Each member is named as AWS's (through {@link WireJson}'s naming, {@code keyId} is {@code KeyId});
 * a member left out is null.
 */
final class Requests {
  private Requests() {}

  /** DescribeKey, EnableKey, DisableKey, CancelKeyDeletion, the rotation and import operations. */
  record KeyIdRequest(String keyId) {}

  /** ConnectCustomKeyStore, DisconnectCustomKeyStore, DeleteCustomKeyStore. */
  record CustomKeyStoreIdRequest(String customKeyStoreId) {}

  /** ListKeys: a page. */
  record PageRequest(Integer limit, String marker) {}

  /** ListAliases, ListResourceTags, ListKeyPolicies: a page of one key's items. */
  record KeyPageRequest(String keyId, Integer limit, String marker) {}

  /** CreateAlias, UpdateAlias. */
  record AliasRequest(String aliasName, String targetKeyId) {}

  record DeleteAliasRequest(String aliasName) {}

  record UpdateKeyDescriptionRequest(String keyId, String description) {}

  record ScheduleKeyDeletionRequest(String keyId, Integer pendingWindowInDays) {}

  record TagResourceRequest(String keyId, List<Tag> tags) {}

  record UntagResourceRequest(String keyId, List<String> tagKeys) {}

  record PutKeyPolicyRequest(String keyId, String policyName, String policy, Boolean bypassPolicyLockoutSafetyCheck) {}

  record GetKeyPolicyRequest(String keyId, String policyName) {}

  record GenerateRandomRequest(Integer numberOfBytes, String customKeyStoreId) {}

  record ListGrantsRequest(Integer limit, String marker, String keyId, String grantId, String granteePrincipal) {}

  record ListRetirableGrantsRequest(Integer limit, String marker, String retiringPrincipal) {}

  /** RetireGrant: the grant by its token, or by KeyId and GrantId. */
  record RetireGrantRequest(String grantToken, String keyId, String grantId, Boolean dryRun) {}

  record RevokeGrantRequest(String keyId, String grantId, Boolean dryRun) {}
}
