package dev.keyhold.kms.policy;

import static com.google.common.base.Preconditions.checkNotNull;
import static dev.keyhold.kms.error.KmsErrorType.AccessDeniedException;
import static dev.keyhold.kms.error.KmsErrorType.MalformedPolicyDocumentException;

import com.google.common.cache.CacheBuilder;
import com.google.common.cache.CacheLoader;
import com.google.common.cache.LoadingCache;
import dev.keyhold.kms.error.KmsException;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * Decides who may do what, as IAM decides a request to KMS from its three sources: the key's policy,
 * the caller's identity policies ({@link IdentityPolicies}) and the key's grants.
 *
 * <ul>
 *   <li>An explicit Deny in the key policy or in an identity policy wins.
 *   <li>Else a key policy statement that names the caller (or {@code "*"}) allows.
 *   <li>Else a key policy statement that names the caller's account allows if the account delegates
 *       and an identity policy of the caller allows too, or if the account means every caller
 *       ({@link AccountPrincipal}). The account root is its account: such a statement names it.
 *   <li>Else a grant that allows the request allows.
 *   <li>Else the request is implicitly denied, and AWS's message names the kind of policy that did
 *       not allow it.
 * </ul>
 *
 * <p>Operations that name no key (CreateKey, ListKeys, the custom key store operations) have only
 * identity policies to ask, as in AWS.
 *
 * <p>What a statement reads:
 *
 * <ul>
 *   <li>Principal and NotPrincipal (key policies only): {@code "*"} and AWS principals. An account, by
 *       id or root ARN, stands for every caller of it as above; a user or role ARN for itself; a role
 *       also for its sessions ({@code arn:aws:sts::<account>:assumed-role/<role>/<session>}), which may
 *       be named on their own.
 *   <li>Action and NotAction with {@code *} and {@code ?}, without case.
 *   <li>Resource and NotResource: the key ARN, with {@code *} and {@code ?} in each part of it; for an
 *       operation that names no key, {@code arn:aws:kms:<region>:<account>:*}, which {@code "*"}
 *       matches and no key ARN does.
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
 * <p>A key's policy comes parsed, with the key; identity policies come parsed from memory. Thread-safe;
 * one instance serves the whole service.
 */
public final class Authorizer {
  private static final String LOCKED_OUT =
      "The new key policy will not allow you to update the key policy in the future.";
  private static final String PUT_KEY_POLICY = "kms:PutKeyPolicy";
  private static final int MAX_CACHED_PRINCIPALS = 1024;

  /** Why a request was denied, as AWS's message says it. */
  private enum Denial {
    KEY_POLICY_DENIES(true, "with an explicit deny in a resource-based policy"),
    IDENTITY_POLICY_DENIES(true, "with an explicit deny in an identity-based policy"),
    NO_KEY_POLICY_ALLOWS(false, "because no resource-based policy allows the %s action"),
    NO_IDENTITY_POLICY_ALLOWS(false, "because no identity-based policy allows the %s action");

    /** Whether a Deny said it, which no grant overrides. */
    private final boolean explicit;
    private final String reason;

    Denial(boolean explicit, String reason) {
      this.explicit = explicit;
      this.reason = reason;
    }
  }

  private final IdentityPolicies identityPolicies;
  private final AccountPrincipal accountPrincipal;
  // Principals are the configured credentials' (few), and working one out costs two regular expressions.
  private final LoadingCache<Principal, Request.Identity> identities = CacheBuilder.newBuilder()
      .maximumSize(MAX_CACHED_PRINCIPALS).build(CacheLoader.from(Request.Identity::of));

  public Authorizer(IdentityPolicies identityPolicies, AccountPrincipal accountPrincipal) {
    this.identityPolicies = checkNotNull(identityPolicies, "identityPolicies");
    this.accountPrincipal = checkNotNull(accountPrincipal, "accountPrincipal");
  }

  /**
   * Lets {@code principal} run {@code action} on the key {@code keyArn} whose policy is {@code policy}.
   *
   * @param action the IAM action, e.g. {@code kms:Encrypt}
   * @param encryptionContext the request's encryption context (empty if none), for
   *     {@code kms:EncryptionContext:*} and {@code kms:EncryptionContextKeys} conditions
   * @param granted whether a grant of the key allows the request, which only an explicit Deny
   *     overrides; asked only when the policies do not allow it, so a key's grants cost the requests
   *     its policy allows nothing
   * @throws KmsException {@code AccessDeniedException} with AWS's message unless allowed as the class
   *     says
   */
  public void authorize(Principal principal, String action, String keyArn, Policy policy,
      Map<String, String> encryptionContext, BooleanSupplier granted) {
    Request request = new Request(identities.getUnchecked(principal), action, keyArn, encryptionContext);
    Denial denial = onKey(request, policy);
    if (denial != null && (denial.explicit || !granted.getAsBoolean())) {
      throw accessDenied(principal, action, keyArn, denial);
    }
  }

  /**
   * Lets {@code principal} run {@code action}, an operation that names no key, on {@code resource}
   * ({@code arn:aws:kms:<region>:<account>:*}): allowed to the account root and to a caller an identity
   * policy allows it; when the account means every caller, also to every caller unless
   * {@code administrative}.
   *
   * @param administrative whether the action is a custom key store operation, which only an identity
   *     policy (or the root) allows whatever {@link AccountPrincipal} says
   * @throws KmsException {@code AccessDeniedException} with AWS's message
   */
  public void authorizeWithoutKey(Principal principal, String action, String resource, boolean administrative) {
    Request request = new Request(identities.getUnchecked(principal), action, resource, Map.of());
    Policy.Decision identity = identityDecision(request);
    if (identity == Policy.Decision.EXPLICIT_DENY) {
      throw accessDenied(principal, action, resource, Denial.IDENTITY_POLICY_DENIES);
    }
    boolean everyCaller = accountPrincipal == AccountPrincipal.MEANS_EVERY_CALLER && !administrative;
    if (identity != Policy.Decision.ALLOW && !everyCaller) {
      throw accessDenied(principal, action, resource, Denial.NO_IDENTITY_POLICY_ALLOWS);
    }
  }

  /**
   * The lockout safety check of PutKeyPolicy, and of CreateKey with a Policy, for requests that do not
   * set BypassPolicyLockoutSafetyCheck: the new policy must allow the principal a later PutKeyPolicy on
   * the key, with its identity policies as they are now.
   *
   * @throws KmsException {@code MalformedPolicyDocumentException} if it does not, or as
   *     {@link Policy#parse} if the document is not a policy at all
   */
  public void checkNotLockedOut(String newPolicy, Principal principal, String keyArn) {
    Request putKeyPolicy = new Request(identities.getUnchecked(principal), PUT_KEY_POLICY, keyArn, Map.of());
    if (onKey(putKeyPolicy, Policy.parse(newPolicy)) != null) {
      throw new KmsException(MalformedPolicyDocumentException, LOCKED_OUT);
    }
  }

  /** Why the policies deny {@code request} on a key whose policy is {@code keyPolicy}; null if they allow it. */
  private Denial onKey(Request request, Policy keyPolicy) {
    Policy.Decision key = keyPolicy.decide(request);
    if (key == Policy.Decision.EXPLICIT_DENY) {
      return Denial.KEY_POLICY_DENIES;
    }
    Policy.Decision identity = identityDecision(request);
    if (identity == Policy.Decision.EXPLICIT_DENY) {
      return Denial.IDENTITY_POLICY_DENIES;
    }
    return switch (key) {
      case ALLOW -> null;
      case ALLOW_FOR_ACCOUNT -> identity == Policy.Decision.ALLOW
          || accountPrincipal == AccountPrincipal.MEANS_EVERY_CALLER ? null : Denial.NO_IDENTITY_POLICY_ALLOWS;
      default -> Denial.NO_KEY_POLICY_ALLOWS;
    };
  }

  /**
   * What the caller's identity policies say together: the account root's allow everything its account
   * may (it has none of its own); a role session's are its role's.
   */
  private Policy.Decision identityDecision(Request request) {
    if (request.identity().isAccountRoot()) {
      return Policy.Decision.ALLOW;
    }
    Policy.Decision decision = Policy.Decision.IMPLICIT_DENY;
    for (Policy policy : identityPolicies.of(request.identity().principalArn())) {
      Policy.Decision one = policy.decide(request);
      if (one == Policy.Decision.EXPLICIT_DENY) {
        return one;
      }
      if (one == Policy.Decision.ALLOW) {
        decision = one;
      }
    }
    return decision;
  }

  /** AWS's wording, which names the kind of policy that denied or did not allow. */
  private static KmsException accessDenied(Principal principal, String action, String resource, Denial denial) {
    return new KmsException(AccessDeniedException, "User: " + principal.arn() + " is not authorized to perform: "
        + action + " on resource: " + resource + " " + denial.reason.formatted(action));
  }
}
