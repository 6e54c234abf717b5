package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.kms.policy.Principal;

/**
 * Who sent a request, as its SigV4 signature proved: the access key id it signed with and the
 * principal the operator configured for that key. What it may do is its principal's identity
 * policies' and the keys' policies' to say.
 *
 * @param principalArn e.g. {@code arn:aws:iam::111122223333:user/alice} or the account root
 *     {@code arn:aws:iam::111122223333:root}
 */
public record Caller(String accessKeyId, String principalArn, String accountId) {
  public Caller {
    checkNotNull(accessKeyId, "accessKeyId");
    checkNotNull(principalArn, "principalArn");
    checkNotNull(accountId, "accountId");
  }

  /** The caller as policies name it. */
  public Principal principal() {
    return new Principal(principalArn, accountId);
  }
}
