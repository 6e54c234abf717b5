package dev.keyhold.server.wire;

import static com.google.common.base.Preconditions.checkState;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Validation;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.GrantConstraints;
import dev.keyhold.kms.key.GrantListEntry;
import dev.keyhold.kms.key.KeyGrants;
import dev.keyhold.kms.key.KeyRecords;
import dev.keyhold.kms.key.ResolvedKey;
import dev.keyhold.kms.policy.Authorizer;
import dev.keyhold.kms.policy.Principal;
import dev.keyhold.server.auth.Caller;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.quota.RequestQuotas;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * The authorization of one request, and what the audit log learns from it: each key the operation
 * uses is resolved once (kms-core's {@link KeyRecords#resolve}) and the {@link Authorizer} asked whether
 * the caller may run the operation's action on it, by its policy and the caller's identity policies,
 * or, unless a policy denies it explicitly, its grants (read with the key); the operation then runs on
 * that same resolved key. An operation that names no key is asked of the identity policies alone.
 *
 * <p>Operations call it for the keys they use ({@link Operations}); the handler then checks that an
 * operation on keys did, so that an operation that forgot fails closed ({@link #checkAuthorized}).
 *
 * <p>A cryptographic operation's key, once allowed, counts against its custom key store's quota
 * ({@link RequestQuotas#admitKeyStore}): only requests that go on to the HSMs spend the store's rate.
 */
final class KeyAccess {
  private static final String ACTION_PREFIX = "kms:";
  private final KmsOperation operation;
  private final Caller caller;
  private final Account account;
  private final KeyRecords keys;
  private final Authorizer authorizer;
  private final RequestQuotas quotas;
  private final Set<String> encryptionContextKeys = new TreeSet<>();
  private String keyArn;
  private String sourceKeyArn;
  private boolean keyAllowed;
  private boolean destinationAllowed;

  KeyAccess(KmsOperation operation, Caller caller, Account account, KeyRecords keys,
      Authorizer authorizer, RequestQuotas quotas) {
    this.operation = operation;
    this.caller = caller;
    this.account = account;
    this.keys = keys;
    this.authorizer = authorizer;
    this.quotas = quotas;
  }

  /**
   * Lets the request use the key {@code name} (the member {@code member}) for the operation's action
   * ({@link KmsOperation#keyAction()}), with {@code encryptionContext} for the policy's conditions.
   *
   * @return the key, for the operation to run on
   * @throws KmsException {@code ValidationException} if the member is absent, {@code NotFoundException}
   *     if it names no key, {@code AccessDeniedException} if the key's policy does not allow it
   */
  ResolvedKey allowKey(String member, String name, Map<String, String> encryptionContext) {
    ResolvedKey key = keys.resolve(Validation.required(name, member));
    noteFirstKey(key);
    allow(operation.keyAction(), key, encryptionContext);
    keyAllowed = true;
    return key;
  }

  /** As {@link #allowKey}, for the second key and its action ({@link KmsOperation#destinationKeyAction()}). */
  ResolvedKey allowDestinationKey(String member, String name, Map<String, String> encryptionContext) {
    ResolvedKey key = keys.resolve(Validation.required(name, member));
    keyArn = key.arn();
    allow(operation.destinationKeyAction().orElseThrow(), key, encryptionContext);
    destinationAllowed = true;
    return key;
  }

  /**
   * As {@link #allowKey} for the key an alias points to now. A name that cannot be an alias names no key
   * to ask: kms-core refuses it, with AWS's message, before it does anything.
   */
  void allowAliasTarget(String aliasName) {
    if (aliasName != null && aliasName.startsWith("alias/")) {
      allowKey("aliasName", aliasName, Map.of());
    }
  }

  /**
   * For Decrypt and ReEncrypt: the key a ciphertext names in its header (kms-core's
   * {@code keyOfDecrypt}; a dry run that ignores the ciphertext names it in the request) must allow the
   * operation's action, decided before the HSM sees the ciphertext. The context is noted for the audit
   * log even if the blob names no key.
   */
  ResolvedKey allowKeyOfCiphertext(Supplier<ResolvedKey> keyOfCiphertext, Map<String, String> encryptionContext) {
    noteContext(encryptionContext);
    ResolvedKey key = keyOfCiphertext.get();
    noteFirstKey(key);
    allow(operation.keyAction(), key, encryptionContext);
    keyAllowed = true;
    return key;
  }

  /**
   * For an operation that names a key it needs no permission on (ListAliases' KeyId): the key's id,
   * resolved so that the audit log names it; null for null.
   *
   * @throws KmsException {@code NotFoundException} if {@code name} names no key
   */
  String namedKey(String name) {
    if (name == null) {
      return null;
    }
    ResolvedKey key = keys.resolve(name);
    noteFirstKey(key);
    return key.keyId();
  }

  /**
   * For CreateGrant: as {@link #allowKey}, but a grant of the key lets its grantee create only a grant
   * no wider than itself ({@link GrantListEntry#allowsGrant}).
   */
  ResolvedKey allowCreateGrant(String keyId, List<String> operations, GrantConstraints constraints) {
    ResolvedKey key = keys.resolve(Validation.required(keyId, "keyId"));
    noteFirstKey(key);
    Principal principal = caller.principal();
    authorizer.authorize(principal, operation.keyAction(), key.arn(), key.policy(), Map.of(), () -> key.grants()
        .stream().anyMatch(grant -> grant.allowsGrant(principal.arn(), principal.accountId(), operations, constraints)));
    keyAllowed = true;
    return key;
  }

  /**
   * For RetireGrant: the grant's retiring principal may retire it, and its grantee if the grant allows
   * RetireGrant; anyone else needs kms:RetireGrant on its key, as any action (AWS asks an IAM policy).
   */
  void allowRetire(KeyGrants.NamedGrant named) {
    noteFirstKey(named.key());
    GrantListEntry grant = named.grant();
    Principal principal = caller.principal();
    if (!principal.arn().equals(grant.retiringPrincipal())
        && !grant.allows(principal.arn(), principal.accountId(), "RetireGrant", Map.of())) {
      allow(operation.keyAction(), named.key(), Map.of());
    }
    keyAllowed = true;
  }

  /** For GenerateRandom: a request that names a custom key store draws from its HSMs, and from its quota. */
  void useKeyStore(String customKeyStoreId) {
    if (customKeyStoreId != null) {
      quotas.admitKeyStore(customKeyStoreId);
    }
  }

  /**
   * For CreateKey and PutKeyPolicy without BypassPolicyLockoutSafetyCheck: {@code policy} must let the
   * caller change it later. CreateKey has no key yet: any key ARN of the account stands for the new one.
   */
  void checkNotLockedOut(String policy, Optional<String> keyArn, Boolean bypass) {
    if (policy != null && !Boolean.TRUE.equals(bypass)) {
      authorizer.checkNotLockedOut(policy, caller.principal(),
          keyArn.orElseGet(() -> kmsArn("key/" + UUID.randomUUID())));
    }
  }

  /**
   * For an operation that names no key ({@link KmsOperation.Authorization#ADMINISTRATION},
   * {@link KmsOperation.Authorization#ACCOUNT}): the caller's identity policies must allow its action
   * on the account's {@code *}, unless the account means every caller and it is no administration.
   */
  void allowWithoutKey() {
    authorizer.authorizeWithoutKey(caller.principal(), ACTION_PREFIX + operation, kmsArn("*"),
        operation.authorization() == KmsOperation.Authorization.ADMINISTRATION);
  }

  /**
   * Fails unless every key the operation uses was allowed: called once the operation succeeded, so that
   * one that skipped a check answers KMSInternalException instead of its result.
   */
  void checkAuthorized() {
    if (operation.authorization() == KmsOperation.Authorization.KEY_POLICY) {
      checkState(keyAllowed, "%s succeeded without authorizing its key", operation);
      checkState(operation.destinationKeyAction().isEmpty() || destinationAllowed,
          "%s succeeded without authorizing its second key", operation);
    }
  }

  /** Records the key a CreateKey made, for the audit log: an operator can find every acknowledged key there. */
  void noteCreated(String arn) {
    keyArn = arn;
  }

  /**
   * For the audit log, the ARN of the key the request used or created: of an operation on two keys
   * (ReEncrypt, UpdateAlias), the destination, as ReEncrypt's response names it in KeyId. Known before
   * the decision, so that the log shows which key a denied request wanted.
   */
  Optional<String> keyArn() {
    return Optional.ofNullable(keyArn);
  }

  /**
   * For the audit log, the other key of an operation on two: the key of ReEncrypt's ciphertext (its
   * response's SourceKeyId), the key UpdateAlias took the alias from. Empty for every other operation.
   */
  Optional<String> sourceKeyArn() {
    return Optional.ofNullable(sourceKeyArn);
  }

  /** The keys (never the values) of every encryption context the request used. */
  Set<String> encryptionContextKeys() {
    return encryptionContextKeys;
  }

  /** The key of {@link KmsOperation#keyAction()}: the source of an operation on two keys, else its one key. */
  private void noteFirstKey(ResolvedKey key) {
    if (operation.destinationKeyAction().isPresent()) {
      sourceKeyArn = key.arn();
    } else {
      keyArn = key.arn();
    }
  }

  /**
   * Allows {@code action} on {@code key} if its policy allows it, or, unless the policy denies it
   * explicitly, a grant of the key does.
   */
  private void allow(String action, ResolvedKey key, Map<String, String> encryptionContext) {
    noteContext(encryptionContext);
    Map<String, String> context = encryptionContext == null ? Map.of() : encryptionContext;
    Principal principal = caller.principal();
    String grantOperation = action.substring(ACTION_PREFIX.length());
    authorizer.authorize(principal, action, key.arn(), key.policy(), context, () -> key.grants().stream()
        .anyMatch(grant -> grant.allows(principal.arn(), principal.accountId(), grantOperation, context)));
    if (KmsOperation.CRYPTOGRAPHIC.contains(operation)) {
      quotas.admitKeyStore(key.keyStoreId());
    }
  }

  /** The ARN of {@code resource} ({@code key/<id>}, {@code *}) in this service's account and Region. */
  private String kmsArn(String resource) {
    return "arn:aws:kms:" + account.region() + ":" + account.accountId() + ":" + resource;
  }

  private void noteContext(Map<String, String> encryptionContext) {
    if (encryptionContext != null) {
      encryptionContextKeys.addAll(encryptionContext.keySet());
    }
  }
}
