package dev.keyhold.kms.policy;

import static com.google.common.base.Preconditions.checkNotNull;

/**
 * Who makes a request, as a key policy names it.
 *
 * @param arn e.g. {@code arn:aws:iam::111122223333:user/alice}, the account root
 *     {@code arn:aws:iam::111122223333:root} or a role session
 *     {@code arn:aws:sts::111122223333:assumed-role/app/i-0abc}
 * @param accountId the account the principal belongs to
 */
public record Principal(String arn, String accountId) {
  public Principal {
    checkNotNull(arn, "arn");
    checkNotNull(accountId, "accountId");
  }
}
