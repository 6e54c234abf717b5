package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.security.SecureRandom;
import java.util.regex.Pattern;

/**
 * An access key the operator configured, and who signs with it.
 *
 * <p>The account is not stored apart: it is the one in {@link #principalArn}, so the two cannot
 * disagree.
 *
 * @param accessKeyId 16 to 128 characters of {@code A-Z} and {@code 0-9}, as AWS's
 * @param principalArn {@code arn:aws:iam::<12 digits>:root}, {@code ...:user/<path/name>} or
 *     {@code ...:role/<path/name>}
 */
public record Credential(String accessKeyId, SecretAccessKey secretAccessKey, String principalArn) {
  private static final Pattern ACCESS_KEY_ID = Pattern.compile("[A-Z0-9]{16,128}");
  private static final String ARN_PREFIX = "arn:aws:iam::";
  private static final int ACCOUNT_ID_LENGTH = 12;
  private static final Pattern PRINCIPAL_ARN = Pattern.compile(Pattern.quote(ARN_PREFIX)
      + "\\d{" + ACCOUNT_ID_LENGTH + "}:(?:root|(?:user|role)/(?:[\\w+=,.@-]+/)*[\\w+=,.@-]+)");
  /** AWS's long-term keys start so; tools that spot leaked keys then spot ours too. */
  private static final String GENERATED_PREFIX = "AKIA";
  private static final String GENERATED_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  private static final int GENERATED_RANDOM_CHARS = 16;

  public Credential {
    checkNotNull(accessKeyId, "accessKeyId");
    checkNotNull(secretAccessKey, "secretAccessKey");
    checkNotNull(principalArn, "principalArn");
    checkArgument(ACCESS_KEY_ID.matcher(accessKeyId).matches(),
        "access key id '%s' must be 16 to 128 characters of A-Z and 0-9", accessKeyId);
    checkArgument(PRINCIPAL_ARN.matcher(principalArn).matches(),
        "principal ARN '%s' must be arn:aws:iam::<12-digit account>:root, :user/<name> or :role/<name>",
        principalArn);
  }

  /** A new access key with a random id and secret, for {@code principalArn}. */
  public static Credential generate(String principalArn, SecureRandom random) {
    checkNotNull(random, "random");
    StringBuilder accessKeyId = new StringBuilder(GENERATED_PREFIX);
    for (int i = 0; i < GENERATED_RANDOM_CHARS; i++) {
      accessKeyId.append(GENERATED_ALPHABET.charAt(random.nextInt(GENERATED_ALPHABET.length())));
    }
    return new Credential(accessKeyId.toString(), SecretAccessKey.random(random), principalArn);
  }

  /** The 12-digit account of {@link #principalArn}. */
  public String accountId() {
    return principalArn.substring(ARN_PREFIX.length(), ARN_PREFIX.length() + ACCOUNT_ID_LENGTH);
  }

  /** Who a request signed with this key comes from. */
  public Caller caller() {
    return new Caller(accessKeyId, principalArn, accountId());
  }
}
