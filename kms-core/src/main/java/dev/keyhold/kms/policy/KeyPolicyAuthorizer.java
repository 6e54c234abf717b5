package dev.keyhold.kms.policy;

import static dev.keyhold.kms.error.KmsErrorType.AccessDeniedException;
import static dev.keyhold.kms.error.KmsErrorType.MalformedPolicyDocumentException;

import com.google.common.cache.CacheBuilder;
import com.google.common.cache.CacheLoader;
import com.google.common.cache.LoadingCache;
import dev.keyhold.kms.error.KmsException;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * Enforces KMS key policies as IAM evaluates a key policy on its own (Keyhold has no identity
 * policies): an explicit Deny wins, else an Allow that applies allows, else a grant that allows the
 * request (the caller's to find), else the request is implicitly denied.
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
 * <p>The policy comes parsed, with the key it belongs to; this class keeps only who each principal
 * counts as. Thread-safe; one instance serves the whole service.
 */
public final class KeyPolicyAuthorizer {
  private static final String LOCKED_OUT =
      "The new key policy will not allow you to update the key policy in the future.";
  private static final String PUT_KEY_POLICY = "kms:PutKeyPolicy";
  private static final int MAX_CACHED_PRINCIPALS = 1024;

  // Principals are the configured credentials' (few), and working one out costs two regular expressions.
  private final LoadingCache<Principal, Request.Identity> identities = CacheBuilder.newBuilder()
      .maximumSize(MAX_CACHED_PRINCIPALS).build(CacheLoader.from(Request.Identity::of));

  /**
   * Lets {@code principal} run {@code action} on the key {@code keyArn} whose policy is {@code policy}.
   *
   * @param action the IAM action, e.g. {@code kms:Encrypt}
   * @param encryptionContext the request's encryption context (empty if none), for
   *     {@code kms:EncryptionContext:*} and {@code kms:EncryptionContextKeys} conditions
   * @param granted whether a grant of the key allows the request, which the policy can only deny
   *     explicitly; asked only when the policy neither allows nor denies, so a key's grants cost the
   *     requests its policy allows nothing
   * @throws KmsException {@code AccessDeniedException} with AWS's message unless an Allow statement
   *     matches, or the request is granted, and no Deny matches
   */
  public void authorize(Principal principal, String action, String keyArn, Policy policy,
      Map<String, String> encryptionContext, BooleanSupplier granted) {
    switch (policy.decide(new Request(identities.getUnchecked(principal), action, keyArn, encryptionContext))) {
      case ALLOW -> { }
      case EXPLICIT_DENY ->
          throw accessDenied(principal, action, keyArn, "with an explicit deny in a resource-based policy");
      case IMPLICIT_DENY -> {
        if (!granted.getAsBoolean()) {
          throw accessDenied(
              principal, action, keyArn, "because no resource-based policy allows the " + action + " action");
        }
      }
    }
  }

  /**
   * The lockout safety check of PutKeyPolicy, and of CreateKey with a Policy, for requests that do not
   * set BypassPolicyLockoutSafetyCheck: the new policy must allow the principal a later PutKeyPolicy on
   * the key.
   *
   * @throws KmsException {@code MalformedPolicyDocumentException} if it does not, or as
   *     {@link Policy#parse} if the document is not a policy at all
   */
  public void checkNotLockedOut(String newPolicy, Principal principal, String keyArn) {
    Request putKeyPolicy = new Request(identities.getUnchecked(principal), PUT_KEY_POLICY, keyArn, Map.of());
    if (Policy.parse(newPolicy).decide(putKeyPolicy) != Policy.Decision.ALLOW) {
      throw new KmsException(MalformedPolicyDocumentException, LOCKED_OUT);
    }
  }

  /** AWS's wording, which names the policy type that denied: here always the key policy. */
  private static KmsException accessDenied(Principal principal, String action, String keyArn, String why) {
    return new KmsException(AccessDeniedException, "User: " + principal.arn() + " is not authorized to perform: "
        + action + " on resource: " + keyArn + " " + why);
  }
}
