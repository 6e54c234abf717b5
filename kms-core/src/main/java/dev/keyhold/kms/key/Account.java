package dev.keyhold.kms.key;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.regex.Pattern;

/** The AWS account and Region this service answers as; they make up every key ARN. */
public record Account(String accountId, String region) {
  private static final Pattern ACCOUNT_ID = Pattern.compile("[0-9]{12}");
  private static final Pattern REGION = Pattern.compile("[a-z]{2}(-[a-z]+)+-[0-9]");

  public Account {
    checkArgument(ACCOUNT_ID.matcher(accountId).matches(), "an account id has 12 digits: %s", accountId);
    checkArgument(REGION.matcher(region).matches(), "not a Region name: %s", region);
  }

  String keyArn(String keyId) {
    return "arn:aws:kms:" + region + ":" + accountId + ":key/" + keyId;
  }

  String aliasArn(String aliasName) {
    return "arn:aws:kms:" + region + ":" + accountId + ":" + aliasName;
  }

  /** The alias name in {@code arn} if it is an alias ARN of this account and Region. */
  String aliasNameOf(String arn) {
    String prefix = "arn:aws:kms:" + region + ":" + accountId + ":alias/";
    return arn.startsWith(prefix) ? arn.substring(prefix.length() - "alias/".length()) : null;
  }

  /** The key id in {@code arn} if it is a key ARN of this account and Region. */
  String keyIdOf(String arn) {
    String prefix = "arn:aws:kms:" + region + ":" + accountId + ":key/";
    return arn.startsWith(prefix) ? arn.substring(prefix.length()) : null;
  }
}
