package dev.keyhold.server.wire;

import static com.google.common.base.Preconditions.checkState;
import static dev.keyhold.kms.error.KmsErrorType.AccessDeniedException;
import static dev.keyhold.kms.error.KmsErrorType.NotFoundException;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Validation;
import dev.keyhold.kms.key.Account;
import dev.keyhold.server.auth.Caller;
import dev.keyhold.server.authz.KeyPolicyAuthorizer;
import dev.keyhold.server.authz.KmsOperation;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;

/**
 * The authorization of one request, and what the audit log learns from it: each key the operation
 * uses is resolved and its policy asked whether the caller may run the operation's action on it.
 *
 * <p>Operations call it for the keys they use ({@link Operations}); the handler then checks that an
 * operation on keys did, so that an operation that forgot fails closed ({@link #checkAuthorized}).
 */
final class KeyAccess {
  private final KmsOperation operation;
  private final Caller caller;
  private final Account account;
  private final KeyDirectory directory;
  private final KeyPolicyAuthorizer authorizer;
  private final Set<String> encryptionContextKeys = new TreeSet<>();
  private String keyArn;
  private boolean keyAllowed;
  private boolean destinationAllowed;

  KeyAccess(KmsOperation operation, Caller caller, Account account, KeyDirectory directory,
      KeyPolicyAuthorizer authorizer) {
    this.operation = operation;
    this.caller = caller;
    this.account = account;
    this.directory = directory;
    this.authorizer = authorizer;
  }

  /**
   * Lets the request use the key {@code name} (the member {@code member}) for the operation's action
   * ({@link KmsOperation#keyAction()}), with {@code encryptionContext} for the policy's conditions.
   *
   * @return the key's ARN
   * @throws KmsException {@code ValidationException} if the member is absent, {@code NotFoundException}
   *     if it names no key, {@code AccessDeniedException} if the key's policy does not allow it
   */
  String allowKey(String member, String name, Map<String, String> encryptionContext) {
    String arn = allow(operation.keyAction(), Validation.required(name, member), encryptionContext);
    keyAllowed = true;
    return arn;
  }

  /** As {@link #allowKey}, for the second key and its action ({@link KmsOperation#destinationKeyAction()}). */
  void allowDestinationKey(String member, String name, Map<String, String> encryptionContext) {
    allow(operation.destinationKeyAction().orElseThrow(), Validation.required(name, member), encryptionContext);
    destinationAllowed = true;
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
   * For Decrypt and ReEncrypt: the key a ciphertext names in its header ({@code keyId}) must allow the
   * operation's action, decided before the HSM sees the ciphertext. A blob that names no key of this
   * service is left to kms-core, which refuses it as InvalidCiphertextException, as AWS does.
   */
  void allowKeyOfCiphertext(Optional<String> keyId, Map<String, String> encryptionContext) {
    noteContext(encryptionContext);
    if (keyId.isEmpty()) {
      return;
    }
    try {
      allowKey("keyId", keyId.get(), encryptionContext);
    } catch (KmsException e) {
      if (e.type() != NotFoundException) {
        throw e;
      }
    }
  }

  /**
   * For CreateKey and PutKeyPolicy without BypassPolicyLockoutSafetyCheck: {@code policy} must let the
   * caller change it later. CreateKey has no key yet: any key ARN of the account stands for the new one.
   */
  void checkNotLockedOut(String policy, Optional<String> keyArn, Boolean bypass) {
    if (policy != null && !Boolean.TRUE.equals(bypass)) {
      authorizer.checkNotLockedOut(policy, caller, keyArn.orElseGet(() -> kmsArn("key/" + UUID.randomUUID())));
    }
  }

  /** The custom key store operations are for administrators; AWS would name the IAM policies that deny. */
  void checkAdministrator() {
    if (!caller.administrator()) {
      throw new KmsException(AccessDeniedException, "User: " + caller.principalArn()
          + " is not authorized to perform: kms:" + operation + " on resource: " + kmsArn("*")
          + " because no identity-based policy allows the kms:" + operation + " action");
    }
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

  /** The ARN of the first key allowed, or of the key created, for the audit log. */
  Optional<String> keyArn() {
    return Optional.ofNullable(keyArn);
  }

  /** The keys (never the values) of every encryption context the request used. */
  Set<String> encryptionContextKeys() {
    return encryptionContextKeys;
  }

  private String allow(String action, String name, Map<String, String> encryptionContext) {
    noteContext(encryptionContext);
    KeyDirectory.Key key = directory.resolve(name);
    if (keyArn == null) {
      keyArn = key.arn(); // before the decision: the audit log shows which key a denied request wanted
    }
    authorizer.authorize(
        caller, action, key.arn(), key.policy(), encryptionContext == null ? Map.of() : encryptionContext);
    return key.arn();
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
