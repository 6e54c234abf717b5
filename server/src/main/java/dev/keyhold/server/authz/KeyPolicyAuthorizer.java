package dev.keyhold.server.authz;

import static dev.keyhold.kms.error.KmsErrorType.AccessDeniedException;
import static dev.keyhold.kms.error.KmsErrorType.MalformedPolicyDocumentException;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import com.google.common.cache.CacheLoader;
import com.google.common.cache.LoadingCache;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.server.auth.Caller;
import java.util.Map;

/**
 * Enforces KMS key policies as IAM evaluates a key policy on its own (Keyhold has no identity
 * policies and no grants): an explicit Deny wins, else an Allow that applies allows, else the request
 * is implicitly denied.
 *
 * <p>What a statement reads:
 *
 * <ul>
 *   <li>Principal and NotPrincipal: {@code "*"} and AWS principals. An account, by id or root ARN,
 *       stands for every caller of it (in AWS it delegates to IAM policies, which Keyhold has none of);
 *       a user or role ARN for itself; a role also for its sessions ({@code
 *       arn:aws:sts::<account>:assumed-role/<role>/<session>}), which may be named on their own.
 *   <li>Action and NotAction with {@code *} and {@code ?}, without case.
 *   <li>Resource and NotResource: the key ARN, with {@code *} and {@code ?} in each part of it.
 *   <li>Condition: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
 *       StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Bool, each also as
 *       {@code ...IfExists} and under {@code ForAnyValue:} and {@code ForAllValues:}, and Null; on
 *       {@code kms:EncryptionContext:<key>}, {@code kms:EncryptionContextKeys}, {@code kms:CallerAccount},
 *       {@code aws:PrincipalArn} and {@code aws:PrincipalAccount}. Any other key has no value in a
 *       request. Keys and operators are ANDed, the values of one key ORed. A condition with another
 *       operator holds in a Deny and fails in an Allow.
 * </ul>
 *
 * <p>Policy variables ({@code ${aws:username}}) are compared as the literal text they are.
 *
 * <p>Thread-safe; one instance serves the whole service.
 */
public final class KeyPolicyAuthorizer implements KeyAuthorizer {
  private static final String LOCKED_OUT =
      "The new key policy will not allow you to update the key policy in the future.";
  // A policy is at most 32 KiB, so the cache stays within tens of MiB; most keys share a few policies.
  private static final int MAX_CACHED_POLICIES = 1024;
  private static final int MAX_CACHED_CALLERS = 1024;

  // Every request on a key is authorized, and reading its policy costs several times what deciding
  // on it does (some 7 µs against under 1 µs); policies seldom change.
  private final Cache<String, Policy> policies = CacheBuilder.newBuilder().maximumSize(MAX_CACHED_POLICIES).build();
  // Callers are the configured credentials: few.
  private final LoadingCache<Caller, Request.Identity> identities =
      CacheBuilder.newBuilder().maximumSize(MAX_CACHED_CALLERS).build(CacheLoader.from(Request.Identity::of));

  /**
   * {@inheritDoc}
   *
   * @throws IllegalArgumentException if {@code policy} is not one kms-core's policy check accepts: a
   *     fault of the stored key, not of the request
   */
  @Override
  public void authorize(
      Caller caller, String action, String keyArn, String policy, Map<String, String> encryptionContext) {
    switch (parsed(policy).decide(new Request(identities.getUnchecked(caller), action, keyArn, encryptionContext))) {
      case ALLOW -> { }
      case EXPLICIT_DENY ->
          throw accessDenied(caller, action, keyArn, "with an explicit deny in a resource-based policy");
      case IMPLICIT_DENY -> throw accessDenied(
          caller, action, keyArn, "because no resource-based policy allows the " + action + " action");
    }
  }

  /**
   * The lockout safety check of PutKeyPolicy, and of CreateKey with a Policy, for requests that do not
   * set BypassPolicyLockoutSafetyCheck: the new policy must allow the caller a later PutKeyPolicy on
   * the key.
   *
   * @throws KmsException {@code MalformedPolicyDocumentException} if it does not, or if the document is
   *     not a policy at all
   */
  public void checkNotLockedOut(String newPolicy, Caller caller, String keyArn) {
    Policy policy;
    try {
      policy = parsed(newPolicy);
    } catch (IllegalArgumentException e) {
      throw new KmsException(MalformedPolicyDocumentException, e.getMessage(), e);
    }
    Request putKeyPolicy = new Request(identities.getUnchecked(caller), KmsOperation.PutKeyPolicy.keyAction(), keyArn, Map.of());
    if (policy.decide(putKeyPolicy) != Policy.Decision.ALLOW) {
      throw new KmsException(MalformedPolicyDocumentException, LOCKED_OUT);
    }
  }

  private Policy parsed(String document) {
    Policy policy = policies.getIfPresent(document);
    if (policy == null) {
      policy = Policy.parse(document);
      policies.put(document, policy);
    }
    return policy;
  }

  /** AWS's wording, which names the policy type that denied: here always the key policy. */
  private static KmsException accessDenied(Caller caller, String action, String keyArn, String why) {
    return new KmsException(AccessDeniedException, "User: " + caller.principalArn() + " is not authorized to perform: "
        + action + " on resource: " + keyArn + " " + why);
  }
}
