package dev.keyhold.kms.policy;

import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.collect.ImmutableList.toImmutableList;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A request as a policy sees it: who the caller is, the action, the resource (a key's ARN) and the
 * values of the condition keys.
 */
final class Request {
  private static final Pattern ACCOUNT_ROOT = Pattern.compile("arn:[^:]+:iam::([0-9]{12}):root");
  private static final Pattern ASSUMED_ROLE =
      Pattern.compile("arn:([^:]+):sts::([0-9]{12}):assumed-role/([^/]+)/[^/]+");
  private static final String ENCRYPTION_CONTEXT_KEY = "kms:encryptioncontext:";

  private final Identity identity;
  private final String action;
  private final String resource;
  private final Map<String, String> encryptionContext;

  Request(Identity identity, String action, String resource, Map<String, String> encryptionContext) {
    this.identity = checkNotNull(identity, "identity");
    this.action = checkNotNull(action, "action").toLowerCase(Locale.ROOT);
    this.resource = checkNotNull(resource, "resource");
    this.encryptionContext = checkNotNull(encryptionContext, "encryptionContext");
  }

  /**
   * Who a caller is to a policy. It depends on the caller alone, and costs two regular expressions:
   * {@link Authorizer} works it out once per principal, not once per request.
   *
   * @param principalArn the ARN aws:PrincipalArn holds, and whose identity policies apply: for a role
   *     session, its role's
   * @param ownNames the names a key policy may give the caller itself: its ARN and, for a role
   *     session, its role's; for the account root, its account
   * @param principals every principal the caller counts as: its own names and its account
   */
  record Identity(String accountId, String principalArn, ImmutableSet<String> ownNames,
      ImmutableSet<String> principals) {
    static Identity of(Principal caller) {
      Matcher session = ASSUMED_ROLE.matcher(caller.arn());
      // A role session acts as its role: aws:PrincipalArn is the role's ARN, and a policy may name
      // either the role or the one session.
      String principalArn = session.matches()
          ? "arn:" + session.group(1) + ":iam::" + session.group(2) + ":role/" + session.group(3)
          : caller.arn();
      ImmutableSet<String> ownNames = ImmutableSet.of(principalName(caller.arn()), principalName(principalArn));
      return new Identity(caller.accountId(), principalArn, ownNames,
          ImmutableSet.<String>builder().addAll(ownNames).add(caller.accountId()).build());
    }

    /** Whether the caller is its account's root, whom IAM lets do everything its account may. */
    boolean isAccountRoot() {
      return ownNames.contains(accountId);
    }
  }

  /**
   * How a principal is compared: an account, given by its id or its root ARN, as its id; anyone else
   * by ARN. A key policy statement that names an account reaches every principal of it, for the
   * account to delegate to their identity policies ({@link AccountPrincipal}).
   */
  static String principalName(String principal) {
    Matcher root = ACCOUNT_ROOT.matcher(principal);
    return root.matches() ? root.group(1) : principal;
  }

  Identity identity() {
    return identity;
  }

  /** The action, lower-cased as IAM compares action names without case. */
  String action() {
    return action;
  }

  String resource() {
    return resource;
  }

  /**
   * The values of a condition key, named in lower case (IAM ignores the case of condition keys, the
   * encryption context key in {@code kms:EncryptionContext:<key>} included); empty when the request
   * has none.
   */
  List<String> values(String conditionKey) {
    return switch (conditionKey) {
      case "kms:calleraccount", "aws:principalaccount" -> List.of(identity.accountId());
      case "aws:principalarn" -> List.of(identity.principalArn());
      case "kms:encryptioncontextkeys" -> ImmutableList.copyOf(encryptionContext.keySet());
      default -> {
        if (!conditionKey.startsWith(ENCRYPTION_CONTEXT_KEY)) {
          yield List.of();
        }
        String contextKey = conditionKey.substring(ENCRYPTION_CONTEXT_KEY.length());
        yield encryptionContext.entrySet().stream()
            .filter(pair -> pair.getKey().equalsIgnoreCase(contextKey))
            .map(Map.Entry::getValue)
            .collect(toImmutableList());
      }
    };
  }
}
