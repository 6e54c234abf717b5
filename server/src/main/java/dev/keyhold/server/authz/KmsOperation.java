package dev.keyhold.server.authz;

import static com.google.common.base.Preconditions.checkState;

import com.google.common.base.Enums;
import com.google.common.collect.Sets;
import java.util.Optional;
import java.util.Set;

/**
 * Every KMS operation Keyhold serves, named exactly as in {@code X-Amz-Target: TrentService.<name>},
 * with how it is authorized and, for an operation on a key, the IAM action it runs on the key.
 *
 * <p>AWS authorizes the operations that name no key (CreateKey, ListKeys, ListAliases, GenerateRandom,
 * ListRetirableGrants and the custom key store operations) by identity policies alone, and so does
 * Keyhold ({@code Authorizer#authorizeWithoutKey}). An operation on a key is allowed by the key's policy,
 * with the caller's identity policies where the policy delegates to them, or by a grant ({@code KeyAccess}).
 */
public enum KmsOperation {
  CreateCustomKeyStore(Authorization.ADMINISTRATION),
  DescribeCustomKeyStores(Authorization.ADMINISTRATION),
  UpdateCustomKeyStore(Authorization.ADMINISTRATION),
  ConnectCustomKeyStore(Authorization.ADMINISTRATION),
  DisconnectCustomKeyStore(Authorization.ADMINISTRATION),
  DeleteCustomKeyStore(Authorization.ADMINISTRATION),

  CreateKey(Authorization.ACCOUNT),
  ListKeys(Authorization.ACCOUNT),
  ListAliases(Authorization.ACCOUNT),
  GenerateRandom(Authorization.ACCOUNT),
  /** Lists grants of any key by their retiring principal. */
  ListRetirableGrants(Authorization.ACCOUNT),

  DescribeKey("kms:DescribeKey"),
  EnableKey("kms:EnableKey"),
  DisableKey("kms:DisableKey"),
  UpdateKeyDescription("kms:UpdateKeyDescription"),
  ScheduleKeyDeletion("kms:ScheduleKeyDeletion"),
  CancelKeyDeletion("kms:CancelKeyDeletion"),
  EnableKeyRotation("kms:EnableKeyRotation"),
  DisableKeyRotation("kms:DisableKeyRotation"),
  GetKeyRotationStatus("kms:GetKeyRotationStatus"),
  GetParametersForImport("kms:GetParametersForImport"),
  ImportKeyMaterial("kms:ImportKeyMaterial"),
  // AWS also asks identity policies about the alias itself; here the key's action decides.
  CreateAlias("kms:CreateAlias"),
  /** On the key the alias points to now, and on the key it is to point to. */
  UpdateAlias("kms:UpdateAlias", "kms:UpdateAlias"),
  DeleteAlias("kms:DeleteAlias"),
  TagResource("kms:TagResource"),
  UntagResource("kms:UntagResource"),
  ListResourceTags("kms:ListResourceTags"),
  PutKeyPolicy("kms:PutKeyPolicy"),
  GetKeyPolicy("kms:GetKeyPolicy"),
  ListKeyPolicies("kms:ListKeyPolicies"),
  Encrypt("kms:Encrypt"),
  Decrypt("kms:Decrypt"),
  /** On the key that encrypted the ciphertext, and on the destination key. */
  ReEncrypt("kms:ReEncryptFrom", "kms:ReEncryptTo"),
  GenerateDataKey("kms:GenerateDataKey"),
  GenerateDataKeyWithoutPlaintext("kms:GenerateDataKeyWithoutPlaintext"),
  CreateGrant("kms:CreateGrant"),
  ListGrants("kms:ListGrants"),
  /**
   * The grant's retiring principal, and its grantee if it allows RetireGrant, need no policy; anyone
   * else needs this action on the grant's key.
   */
  RetireGrant("kms:RetireGrant"),
  RevokeGrant("kms:RevokeGrant");

  /**
   * The cryptographic operations: they share the account's request rate, and they use a key's
   * material in an HSM while changing nothing stored, so that running one again (on another HSM, when
   * the first hangs) answers its caller as well as the first run would have.
   */
  public static final Set<KmsOperation> CRYPTOGRAPHIC = Sets.immutableEnumSet(
      Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom);

  /** Who may run an operation. */
  public enum Authorization {
    /** A caller an identity policy allows (or the account root): the custom key store operations. */
    ADMINISTRATION,
    /**
     * A caller an identity policy allows (or the account root), or any caller when the account means
     * every caller ({@code AccountPrincipal}).
     */
    ACCOUNT,
    /** A caller allowed the action on each key the operation uses, by its policy or a grant. */
    KEY_POLICY
  }

  private final Authorization authorization;
  private final String keyAction;
  private final String destinationKeyAction;

  KmsOperation(Authorization authorization) {
    this(authorization, null, null);
  }

  KmsOperation(String keyAction) {
    this(Authorization.KEY_POLICY, keyAction, null);
  }

  KmsOperation(String keyAction, String destinationKeyAction) {
    this(Authorization.KEY_POLICY, keyAction, destinationKeyAction);
  }

  KmsOperation(Authorization authorization, String keyAction, String destinationKeyAction) {
    this.authorization = authorization;
    this.keyAction = keyAction;
    this.destinationKeyAction = destinationKeyAction;
  }

  /** The operation of an {@code X-Amz-Target} name, e.g. {@code Encrypt}; empty for one Keyhold does not serve. */
  public static Optional<KmsOperation> named(String operation) {
    return Enums.getIfPresent(KmsOperation.class, operation).toJavaUtil();
  }

  public Authorization authorization() {
    return authorization;
  }

  /**
   * The action the policy of the operation's key must allow. That key is KeyId's; for Decrypt and
   * ReEncrypt, the one that encrypted the ciphertext; for CreateAlias, TargetKeyId's; for UpdateAlias
   * and DeleteAlias, the one the alias points to before the request.
   *
   * @throws IllegalStateException unless {@link #authorization()} is {@link Authorization#KEY_POLICY}
   */
  public String keyAction() {
    checkState(authorization == Authorization.KEY_POLICY, "%s uses no key", this);
    return keyAction;
  }

  /**
   * The action the policy of the operation's second key must allow: ReEncrypt's DestinationKeyId
   * ({@code kms:ReEncryptTo}) and UpdateAlias's new TargetKeyId ({@code kms:UpdateAlias}); empty for
   * every other operation.
   */
  public Optional<String> destinationKeyAction() {
    return Optional.ofNullable(destinationKeyAction);
  }
}
