package dev.keyhold.kms.policy;

import static dev.keyhold.kms.error.KmsErrorType.AccessDeniedException;
import static dev.keyhold.kms.error.KmsErrorType.MalformedPolicyDocumentException;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KeyPolicies;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The key policy language, read with the account principal meaning every caller, so that a statement
 * naming the account speaks for itself; IdentityPoliciesTest has the delegation to identity policies.
 */
class AuthorizerTest {
  private static final String ACCOUNT = "111122223333";
  private static final String KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  private static final Principal ROOT = caller("arn:aws:iam::111122223333:root");
  private static final Principal ALICE = caller("arn:aws:iam::111122223333:user/alice");
  private static final Principal BOB = caller("arn:aws:iam::111122223333:user/bob");
  private static final Principal ADMIN = caller("arn:aws:iam::111122223333:user/admin");
  private static final Principal APP_SESSION = caller("arn:aws:sts::111122223333:assumed-role/app/i-0abc");
  private static final Principal OUTSIDER =
      new Principal("arn:aws:iam::444455556666:user/eve", "444455556666");

  private static final String ALICE_ENCRYPTS = """
      {"Version": "2012-10-17", "Statement": [{
        "Sid": "Alice encrypts", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
        "Action": "kms:Encrypt", "Resource": "*"}]}""";

  @TempDir
  static Path data;
  private static JdbcMetadataStore metadata;
  private static Authorizer authorizer;

  @BeforeAll
  static void openMetadata() {
    metadata = JdbcMetadataStore.embedded(data);
    authorizer = new Authorizer(new IdentityPolicies(metadata), AccountPrincipal.MEANS_EVERY_CALLER);
  }

  @AfterAll
  static void closeMetadata() {
    metadata.close();
  }

  @Test
  void theDefaultPolicyLetsEveryCallerOfTheAccountDoEverything() {
    String policy = KeyPolicies.defaultPolicy(new Account(ACCOUNT, "us-east-1"));
    Stream<String> keyActions = Stream.of("Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext", "DescribeKey", "EnableKey", "DisableKey", "UpdateKeyDescription",
        "ScheduleKeyDeletion", "CancelKeyDeletion", "CreateAlias", "UpdateAlias", "DeleteAlias", "TagResource",
        "UntagResource", "ListResourceTags", "PutKeyPolicy", "GetKeyPolicy", "ListKeyPolicies", "EnableKeyRotation",
        "DisableKeyRotation", "GetKeyRotationStatus", "GetParametersForImport", "ImportKeyMaterial")
        .map(operation -> "kms:" + operation);
    keyActions.forEach(action -> {
      for (Principal caller : new Principal[] {ROOT, ALICE, APP_SESSION}) {
        assertThat(allows(policy, caller, action)).as("%s %s", caller.arn(), action).isTrue();
      }
    });
    assertThat(allows(policy, OUTSIDER, "kms:Encrypt")).isFalse();
  }

  @Test
  void aGrantOfEncryptToAliceGivesHerNothingElseAndBobNothing() {
    assertThat(allows(ALICE_ENCRYPTS, ALICE, "kms:Encrypt")).isTrue();
    assertThat(allows(ALICE_ENCRYPTS, ALICE, "kms:Decrypt")).isFalse();
    assertThat(allows(ALICE_ENCRYPTS, BOB, "kms:Encrypt")).isFalse();
    assertThat(allows(ALICE_ENCRYPTS, ROOT, "kms:Encrypt")).isFalse();
  }

  @Test
  void anImplicitDenialSaysNoResourceBasedPolicyAllowsTheAction() {
    assertThatThrownBy(() -> authorizer.authorize(ALICE, "kms:Decrypt", KEY, Policy.parse(ALICE_ENCRYPTS), Map.of(),
        () -> false))
        .isInstanceOfSatisfying(KmsException.class, e -> assertThat(e.type()).isEqualTo(AccessDeniedException))
        .hasMessage("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on resource: "
            + KEY + " because no resource-based policy allows the kms:Decrypt action");
  }

  @Test
  void aDenyOverridesAnAllowAndSaysSo() {
    String policy = """
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
           "Action": "kms:*", "Resource": "*"},
          {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
           "Action": "kms:Decrypt", "Resource": "*"}]}""";
    assertThat(allows(policy, ALICE, "kms:Encrypt")).isTrue();
    assertThat(allows(policy, BOB, "kms:Decrypt")).isTrue();
    assertThatThrownBy(() -> authorizer.authorize(ALICE, "kms:Decrypt", KEY, Policy.parse(policy), Map.of(), () -> false))
        .isInstanceOfSatisfying(KmsException.class, e -> assertThat(e.type()).isEqualTo(AccessDeniedException))
        .hasMessage("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on resource: "
            + KEY + " with an explicit deny in a resource-based policy");
    assertThatThrownBy(() -> authorizer.authorize(ALICE, "kms:Decrypt", KEY, Policy.parse(policy), Map.of(), () -> true))
        .as("a grant does not override an explicit deny").hasMessageEndingWith("with an explicit deny in a "
            + "resource-based policy");
  }

  @Test
  void aGrantAllowsWhatThePolicyDoesNotDeny() {
    assertThatCode(() -> authorizer.authorize(ALICE, "kms:Decrypt", KEY, Policy.parse(ALICE_ENCRYPTS), Map.of(), () -> true))
        .doesNotThrowAnyException();
  }

  @Test
  void principalsNameAccountsByIdOrRootAndAnyoneByStar() {
    for (String principal : new String[] {"\"111122223333\"", "\"arn:aws:iam::111122223333:root\"", "\"*\""}) {
      String policy = allowEncrypt("{\"AWS\": " + principal + "}");
      assertThat(allows(policy, BOB, "kms:Encrypt")).as(principal).isTrue();
      assertThat(allows(policy, APP_SESSION, "kms:Encrypt")).as(principal).isTrue();
      assertThat(allows(policy, OUTSIDER, "kms:Encrypt")).as(principal).isEqualTo(principal.equals("\"*\""));
    }
    assertThat(allows(allowEncrypt("\"*\""), OUTSIDER, "kms:Encrypt")).isTrue();
  }

  @Test
  void aRoleCoversItsSessionsAndASessionOnlyItself() {
    String role = allowEncrypt("{\"AWS\": [\"arn:aws:iam::111122223333:role/app\"]}");
    assertThat(allows(role, APP_SESSION, "kms:Encrypt")).isTrue();
    assertThat(allows(role, caller("arn:aws:iam::111122223333:role/app"), "kms:Encrypt")).isTrue();
    assertThat(allows(role, caller("arn:aws:sts::111122223333:assumed-role/other/i-0abc"), "kms:Encrypt")).isFalse();

    String session = allowEncrypt("{\"AWS\": \"arn:aws:sts::111122223333:assumed-role/app/i-0abc\"}");
    assertThat(allows(session, APP_SESSION, "kms:Encrypt")).isTrue();
    assertThat(allows(session, caller("arn:aws:sts::111122223333:assumed-role/app/i-0def"), "kms:Encrypt")).isFalse();
  }

  @Test
  void serviceAndOtherPrincipalTypesNeverNameACaller() {
    String policy = allowEncrypt("{\"Service\": \"ec2.amazonaws.com\", \"CanonicalUser\": \"79a59df900b949e5\"}");
    assertThat(allows(policy, ROOT, "kms:Encrypt")).isFalse();
  }

  @Test
  void notPrincipalSparesOnlyACallerAllOfWhosePrincipalsItNames() {
    String sparesAdminAndAccount = denyAllExcept("[\"arn:aws:iam::111122223333:user/admin\", \"111122223333\"]");
    assertThat(allows(sparesAdminAndAccount, ADMIN, "kms:PutKeyPolicy")).isTrue();
    assertThat(allows(sparesAdminAndAccount, ROOT, "kms:PutKeyPolicy")).isTrue();
    assertThat(allows(sparesAdminAndAccount, ALICE, "kms:PutKeyPolicy")).isFalse();
    // As IAM warns: naming the user without the account denies the user too, through the account.
    String sparesAdminAlone = denyAllExcept("\"arn:aws:iam::111122223333:user/admin\"");
    assertThat(allows(sparesAdminAlone, ADMIN, "kms:PutKeyPolicy")).isFalse();
  }

  @Test
  void actionsMatchWildcardsWithoutCase() {
    String policy = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
          "Action": ["kms:Generate*", "KMS:encrypt", "kms:ReEncrypt*", "kms:?escribeKey"], "Resource": "*"}]}""";
    assertThat(allows(policy, ALICE, "kms:GenerateDataKey")).isTrue();
    assertThat(allows(policy, ALICE, "kms:GenerateDataKeyWithoutPlaintext")).isTrue();
    assertThat(allows(policy, ALICE, "kms:Encrypt")).isTrue();
    assertThat(allows(policy, ALICE, "kms:ReEncryptFrom")).isTrue();
    assertThat(allows(policy, ALICE, "kms:ReEncryptTo")).isTrue();
    assertThat(allows(policy, ALICE, "kms:DescribeKey")).isTrue();
    assertThat(allows(policy, ALICE, "kms:Decrypt")).isFalse();
    assertThat(allows(policy, ALICE, "kms:GetKeyPolicy")).isFalse();
  }

  @Test
  void notActionAllowsEverythingButWhatItLists() {
    String policy = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
          "NotAction": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"], "Resource": "*"}]}""";
    assertThat(allows(policy, ALICE, "kms:Encrypt")).isTrue();
    assertThat(allows(policy, ALICE, "kms:ScheduleKeyDeletion")).isFalse();
    assertThat(allows(policy, ALICE, "kms:PutKeyPolicy")).isFalse();
  }

  @Test
  void resourcesMatchTheKeyArnWithWildcards() {
    assertThat(allows(allowEncryptOn("\"arn:aws:kms:*:111122223333:key/*\""), ALICE, "kms:Encrypt")).isTrue();
    assertThat(allows(allowEncryptOn("[\"arn:aws:kms:us-east-1:111122223333:key/other\", \"" + KEY + "\"]"),
        ALICE, "kms:Encrypt")).isTrue();
    assertThat(allows(allowEncryptOn("\"arn:aws:kms:us-east-1:111122223333:key/other\""), ALICE, "kms:Encrypt"))
        .isFalse();
    assertThat(allows(allowEncryptOn("\"arn:aws:kms:*:444455556666:key/*\""), ALICE, "kms:Encrypt")).isFalse();
    assertThat(allows(allowEncryptOn("\"arn:aws:kms:us-east-1:111122223333:alias/*\""), ALICE, "kms:Encrypt"))
        .isFalse();
  }

  @Test
  void notResourceReachesEveryOtherKey() {
    String policy = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
          "Action": "kms:Encrypt", "NotResource": "arn:aws:kms:us-east-1:111122223333:key/1234*"}]}""";
    assertThat(allows(policy, ALICE, "kms:Encrypt")).isFalse();
    assertThatCode(() -> authorizer.authorize(
            ALICE, "kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/5678", Policy.parse(policy), Map.of(), () -> false))
        .doesNotThrowAnyException();
  }

  @Test
  void stringEqualsOnAnEncryptionContextPairRequiresThatPair() {
    String policy = allowEncryptIf("{\"StringEquals\": {\"kms:EncryptionContext:purpose\": \"backup\"}}");
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "backup"))).isTrue();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "backup", "team", "blue"))).isTrue();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "restore"))).isFalse();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "Backup"))).isFalse();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of())).isFalse();
  }

  @Test
  void theKeyInAnEncryptionContextConditionIgnoresCaseAsInAws() {
    // AWS KMS Developer Guide, "Case sensitivity of the encryption context condition": the condition
    // key, context key included, is not case sensitive; kms:EncryptionContextKeys is how to require it.
    String policy = allowEncryptIf("{\"StringEquals\": {\"kms:EncryptionContext:Purpose\": \"backup\"}}");
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "backup"))).isTrue();
    String caseSensitive = allowEncryptIf("""
        {"StringEquals": {"kms:EncryptionContext:Purpose": "backup"},
         "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "Purpose"}}""");
    assertThat(allows(caseSensitive, ALICE, "kms:Encrypt", Map.of("purpose", "backup"))).isFalse();
    assertThat(allows(caseSensitive, ALICE, "kms:Encrypt", Map.of("Purpose", "backup"))).isTrue();
  }

  @Test
  void valuesOfOneKeyAreAlternativesAndKeysAndOperatorsMustAllHold() {
    String policy = allowEncryptIf("""
        {"StringEquals": {"kms:EncryptionContext:purpose": ["backup", "restore"],
                          "kms:EncryptionContext:team": "blue"},
         "StringLike": {"kms:EncryptionContext:path": "/data/*"}}""");
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "restore", "team", "blue", "path", "/data/x")))
        .isTrue();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "backup", "team", "red", "path", "/data/x")))
        .isFalse();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "backup", "team", "blue", "path", "/etc/x")))
        .isFalse();
  }

  @Test
  void forAllValuesLimitsTheContextKeysAndAllowsNoContextUnlessAPairIsRequired() {
    String onlyThese = allowEncryptIf(
        "{\"ForAllValues:StringEquals\": {\"kms:EncryptionContextKeys\": [\"purpose\", \"team\"]}}");
    assertThat(allows(onlyThese, ALICE, "kms:Encrypt", Map.of("purpose", "x", "team", "y"))).isTrue();
    assertThat(allows(onlyThese, ALICE, "kms:Encrypt", Map.of("purpose", "x", "stage", "y"))).isFalse();
    // IAM's ForAllValues holds over no values at all; AWS pairs it with a required pair for that reason.
    assertThat(allows(onlyThese, ALICE, "kms:Encrypt", Map.of())).isTrue();
    String requiredAndOnlyThese = allowEncryptIf("""
        {"StringEquals": {"kms:EncryptionContext:purpose": "backup"},
         "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["purpose", "team"]}}""");
    assertThat(allows(requiredAndOnlyThese, ALICE, "kms:Encrypt", Map.of())).isFalse();
    assertThat(allows(requiredAndOnlyThese, ALICE, "kms:Encrypt", Map.of("purpose", "backup"))).isTrue();
  }

  @Test
  void forAnyValueNeedsOneMatchingContextKey() {
    String policy = allowEncryptIf("{\"ForAnyValue:StringLike\": {\"kms:EncryptionContextKeys\": \"tenant-*\"}}");
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("tenant-id", "7", "other", "x"))).isTrue();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("other", "x"))).isFalse();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of())).isFalse();
  }

  @Test
  void ifExistsHoldsWhenTheRequestLacksTheKey() {
    String policy = allowEncryptIf("{\"StringEqualsIfExists\": {\"kms:EncryptionContext:stage\": \"test\"}}");
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of())).isTrue();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("stage", "test"))).isTrue();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("stage", "prod"))).isFalse();
  }

  @Test
  void nullTestsWhetherTheRequestHasTheKey() {
    String policy = """
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
          {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
           "Condition": {"Null": {"kms:EncryptionContextKeys": "true"}}}]}""";
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of())).isFalse();
    assertThat(allows(policy, ALICE, "kms:Encrypt", Map.of("purpose", "x"))).isTrue();
    assertThat(allows(policy, ALICE, "kms:DescribeKey")).isTrue();
  }

  @Test
  void aNegatedOperatorHoldsWhenTheRequestLacksTheKey() {
    String policy = """
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
          {"Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "kms:Decrypt", "Resource": "*",
           "Condition": {"StringNotEquals": {"kms:EncryptionContext:tenant": ["acme", "globex"]}}}]}""";
    assertThat(allows(policy, ALICE, "kms:Decrypt", Map.of("tenant", "acme"))).isTrue();
    assertThat(allows(policy, ALICE, "kms:Decrypt", Map.of("tenant", "globex"))).isTrue();
    assertThat(allows(policy, ALICE, "kms:Decrypt", Map.of("tenant", "initech"))).isFalse();
    assertThat(allows(policy, ALICE, "kms:Decrypt", Map.of())).isFalse();
  }

  @Test
  void callerAccountAndPrincipalKeysDescribeTheCaller() {
    String anyoneOfTheAccount = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
          "Action": "kms:Encrypt", "Resource": "*",
          "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333",
                                         "aws:PrincipalAccount": "111122223333"}}}]}""";
    assertThat(allows(anyoneOfTheAccount, ALICE, "kms:Encrypt")).isTrue();
    assertThat(allows(anyoneOfTheAccount, OUTSIDER, "kms:Encrypt")).isFalse();

    // A session's aws:PrincipalArn is its role's ARN.
    String appRole = allowEncryptToAnyoneIf(
        "{\"ArnLike\": {\"aws:PrincipalArn\": \"arn:aws:iam::111122223333:role/app*\"}}");
    assertThat(allows(appRole, APP_SESSION, "kms:Encrypt")).isTrue();
    assertThat(allows(appRole, ALICE, "kms:Encrypt")).isFalse();
    String sessionArn = allowEncryptToAnyoneIf(
        "{\"StringEquals\": {\"aws:PrincipalArn\": \"arn:aws:sts::111122223333:assumed-role/app/i-0abc\"}}");
    assertThat(allows(sessionArn, APP_SESSION, "kms:Encrypt")).isFalse();
  }

  @Test
  void aKeyTheRequestNeverHasFailsPositiveOperators() {
    String policy = allowEncryptIf("{\"StringEquals\": {\"aws:SourceVpc\": \"vpc-1a2b3c4d\"}}");
    assertThat(allows(policy, ALICE, "kms:Encrypt")).isFalse();
  }

  @Test
  void boolComparesWithoutCase() {
    String policy = allowEncryptIf("{\"BoolIfExists\": {\"aws:SecureTransport\": true}}");
    assertThat(allows(policy, ALICE, "kms:Encrypt")).isTrue();
    String required = allowEncryptIf("{\"Bool\": {\"aws:SecureTransport\": \"TRUE\"}}");
    assertThat(allows(required, ALICE, "kms:Encrypt")).isFalse();
  }

  @Test
  void aConditionKeyholdCannotReadNeverGrantsAndAlwaysDenies() {
    String allow = allowEncryptIf("{\"NumericLessThan\": {\"kms:EncryptionContext:size\": \"10\"}}");
    assertThat(allows(allow, ALICE, "kms:Encrypt", Map.of("size", "1"))).isFalse();
    String deny = """
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
          {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
           "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}]}""";
    assertThat(allows(deny, ALICE, "kms:Decrypt")).isFalse();
    assertThat(allows(deny, ALICE, "kms:Encrypt")).isTrue();
  }

  @Test
  void theLockoutCheckPassesAPolicyThatLetsTheCallerPutPoliciesAgain() {
    assertThatCode(() -> authorizer.checkNotLockedOut(
            KeyPolicies.defaultPolicy(new Account(ACCOUNT, "us-east-1")), ALICE, KEY))
        .doesNotThrowAnyException();
    String admins = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
          "Principal": {"AWS": ["arn:aws:iam::111122223333:user/admin", "arn:aws:iam::111122223333:user/alice"]},
          "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy"], "Resource": "*"}]}""";
    assertThatCode(() -> authorizer.checkNotLockedOut(admins, ALICE, KEY)).doesNotThrowAnyException();
  }

  @Test
  void theLockoutCheckRefusesAPolicyThatWouldShutTheCallerOut() {
    assertLockedOut(ALICE_ENCRYPTS, ALICE);
    String deniesAlice = """
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
          {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
           "Action": "kms:Put*", "Resource": "*"}]}""";
    assertLockedOut(deniesAlice, ALICE);
    assertThatCode(() -> authorizer.checkNotLockedOut(deniesAlice, BOB, KEY)).doesNotThrowAnyException();
  }

  @Test
  void theLockoutCheckRefusesADocumentThatIsNoPolicy() {
    assertThatThrownBy(() -> authorizer.checkNotLockedOut("{\"Statement\": ", ALICE, KEY))
        .isInstanceOfSatisfying(
            KmsException.class, e -> assertThat(e.type()).isEqualTo(MalformedPolicyDocumentException))
        .hasMessageStartingWith("The policy is not valid JSON: ");
  }

  @Test
  void aDocumentThatIsNoPolicyIsRefusedWhenItIsRead() {
    assertThatThrownBy(() -> Policy.parse("[]"))
        .isInstanceOfSatisfying(
            KmsException.class, e -> assertThat(e.type()).isEqualTo(MalformedPolicyDocumentException))
        .hasMessage("The policy must be a JSON object.");
  }

  private void assertLockedOut(String policy, Principal caller) {
    assertThatThrownBy(() -> authorizer.checkNotLockedOut(policy, caller, KEY))
        .isInstanceOfSatisfying(
            KmsException.class, e -> assertThat(e.type()).isEqualTo(MalformedPolicyDocumentException))
        .hasMessage("The new key policy will not allow you to update the key policy in the future.");
  }

  /** Whether the policy, once kms-core has accepted it, lets the caller run the action on {@link #KEY}. */
  private boolean allows(String policy, Principal caller, String action, Map<String, String> encryptionContext) {
    Policy accepted = Policy.parse(policy);
    try {
      authorizer.authorize(caller, action, KEY, accepted, encryptionContext, () -> false);
      return true;
    } catch (KmsException e) {
      assertThat(e.type()).isEqualTo(AccessDeniedException);
      return false;
    }
  }

  private boolean allows(String policy, Principal caller, String action) {
    return allows(policy, caller, action, Map.of());
  }

  private static String allowEncrypt(String principal) {
    return "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": " + principal
        + ", \"Action\": \"kms:Encrypt\", \"Resource\": \"*\"}]}";
  }

  private static String allowEncryptOn(String resource) {
    return "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \""
        + ACCOUNT + "\"}, \"Action\": \"kms:Encrypt\", \"Resource\": " + resource + "}]}";
  }

  /** Encrypt for the account's callers, under a condition. */
  private static String allowEncryptIf(String condition) {
    return "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \""
        + ACCOUNT + "\"}, \"Action\": \"kms:Encrypt\", \"Resource\": \"*\", \"Condition\": " + condition + "}]}";
  }

  /** Encrypt for any principal at all, under a condition. */
  private static String allowEncryptToAnyoneIf(String condition) {
    return "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": \"*\","
        + " \"Action\": \"kms:Encrypt\", \"Resource\": \"*\", \"Condition\": " + condition + "}]}";
  }

  /** Everything for the account, and a Deny of everything to all principals but those listed. */
  private static String denyAllExcept(String principals) {
    return "{\"Version\": \"2012-10-17\", \"Statement\": ["
        + "{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"" + ACCOUNT + "\"},"
        + " \"Action\": \"kms:*\", \"Resource\": \"*\"},"
        + "{\"Effect\": \"Deny\", \"NotPrincipal\": {\"AWS\": " + principals + "},"
        + " \"Action\": \"kms:*\", \"Resource\": \"*\"}]}";
  }

  private static Principal caller(String principalArn) {
    return new Principal(principalArn, ACCOUNT);
  }
}
