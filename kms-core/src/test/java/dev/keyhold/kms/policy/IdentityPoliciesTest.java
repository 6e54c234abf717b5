package dev.keyhold.kms.policy;

import static dev.keyhold.kms.error.KmsErrorType.AccessDeniedException;
import static dev.keyhold.kms.error.KmsErrorType.LimitExceededException;
import static dev.keyhold.kms.error.KmsErrorType.MalformedPolicyDocumentException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KeyPolicies;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.TestMetadata;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Identity policies, and key policies that delegate to them through the account principal, as in
 * AWS: stored and seen by every node, then put together with the key policy by the {@link Authorizer}.
 */
class IdentityPoliciesTest {
  private static final String ACCOUNT = "111122223333";
  private static final String KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  private static final String OTHER_KEY = "arn:aws:kms:us-east-1:111122223333:key/5678";
  private static final String NO_KEY = "arn:aws:kms:us-east-1:111122223333:*";
  private static final Principal ROOT = new Principal("arn:aws:iam::111122223333:root", ACCOUNT);
  private static final Principal APP = new Principal("arn:aws:iam::111122223333:user/app", ACCOUNT);
  private static final Principal AUDITOR = new Principal("arn:aws:iam::111122223333:user/auditor", ACCOUNT);
  private static final Principal WORKER_SESSION =
      new Principal("arn:aws:sts::111122223333:assumed-role/worker/i-0abc", ACCOUNT);
  private static final String DEFAULT_POLICY = KeyPolicies.defaultPolicy(new Account(ACCOUNT, "us-east-1"));
  private static final String ENCRYPT_AND_DECRYPT_WITH_KEY = """
      {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}""";
  private static final String READ_ONLY = """
      {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["kms:Describe*", "kms:List*", "kms:Get*"], "Resource": "*"}]}""";

  @TempDir
  Path data;
  private JdbcMetadataStore metadata;
  private IdentityPolicies policies;
  private Authorizer authorizer;

  @BeforeEach
  void open() {
    metadata = TestMetadata.open(data);
    policies = new IdentityPolicies(metadata);
    authorizer = new Authorizer(policies, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES);
  }

  @AfterEach
  void close() {
    metadata.close();
  }

  @Test
  void theDefaultKeyPolicyAllowsExactlyWhatTheCallersIdentityPolicyNames() {
    assertThat(deniedOnKey(APP, "kms:Encrypt", KEY)).isEqualTo("User: arn:aws:iam::111122223333:user/app is not "
        + "authorized to perform: kms:Encrypt on resource: " + KEY
        + " because no identity-based policy allows the kms:Encrypt action");

    policies.put(APP.arn(), "EncryptDecrypt", ENCRYPT_AND_DECRYPT_WITH_KEY);

    assertThat(deniedOnKey(APP, "kms:Encrypt", KEY)).isNull();
    assertThat(deniedOnKey(APP, "kms:Decrypt", KEY)).isNull();
    assertThat(deniedOnKey(APP, "kms:GenerateDataKey", KEY)).endsWith("no identity-based policy allows the "
        + "kms:GenerateDataKey action");
    assertThat(deniedOnKey(APP, "kms:Encrypt", OTHER_KEY)).isNotNull();
    assertThat(deniedWithoutKey(APP, "kms:CreateKey")).endsWith("no identity-based policy allows the "
        + "kms:CreateKey action");
    assertThat(deniedOnKey(ROOT, "kms:ScheduleKeyDeletion", OTHER_KEY)).as("the root needs no identity policy")
        .isNull();
    assertThat(deniedWithoutKey(ROOT, "kms:CreateCustomKeyStore")).isNull();
  }

  @Test
  void aReadOnlyPolicyAllowsDescribeKeyAndListKeysButNoCrypto() {
    policies.put(AUDITOR.arn(), "ReadOnly", READ_ONLY);

    assertThat(deniedOnKey(AUDITOR, "kms:DescribeKey", KEY)).isNull();
    assertThat(deniedWithoutKey(AUDITOR, "kms:ListKeys")).isNull();
    assertThat(deniedOnKey(AUDITOR, "kms:Encrypt", KEY)).isNotNull();
    assertThat(deniedOnKey(AUDITOR, "kms:Decrypt", KEY)).isNotNull();
    assertThat(deniedWithoutKey(AUDITOR, "kms:CreateKey")).isNotNull();
    assertThat(deniedWithoutKey(AUDITOR, "kms:DescribeCustomKeyStores"))
        .as("ReadOnly's kms:Describe* on * reaches the custom key stores too, as in IAM").isNull();
  }

  @Test
  void anExplicitDenyInTheKeyPolicyOverridesTheIdentityPolicyAndAGrant() {
    policies.put(APP.arn(), "EncryptDecrypt", ENCRYPT_AND_DECRYPT_WITH_KEY);
    String denyApp = """
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
          {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/app"},
           "Action": "kms:Decrypt", "Resource": "*"}]}""";
    assertThatThrownBy(() -> authorizer.authorize(APP, "kms:Decrypt", KEY, Policy.parse(denyApp), Map.of(), () -> true))
        .hasMessageEndingWith("with an explicit deny in a resource-based policy");
    assertThatCode(() -> authorizer.authorize(APP, "kms:Encrypt", KEY, Policy.parse(denyApp), Map.of(), () -> false))
        .doesNotThrowAnyException();
  }

  @Test
  void anExplicitDenyInAnIdentityPolicyOverridesAKeyPolicyThatNamesTheCallerAndAGrant() {
    String namesApp = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
          "Principal": {"AWS": "arn:aws:iam::111122223333:user/app"}, "Action": "kms:*", "Resource": "*"}]}""";
    assertThatCode(() -> authorizer.authorize(APP, "kms:Decrypt", KEY, Policy.parse(namesApp), Map.of(), () -> false))
        .as("a key policy that names the caller needs no identity policy").doesNotThrowAnyException();

    policies.put(APP.arn(), "NoDecrypt", """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}""");

    assertThatThrownBy(() -> authorizer.authorize(APP, "kms:Decrypt", KEY, Policy.parse(namesApp), Map.of(), () -> true))
        .isInstanceOfSatisfying(KmsException.class, e -> assertThat(e.type()).isEqualTo(AccessDeniedException))
        .hasMessage("User: arn:aws:iam::111122223333:user/app is not authorized to perform: kms:Decrypt on resource: "
            + KEY + " with an explicit deny in an identity-based policy");
  }

  @Test
  void aGrantAllowsWhatNoPolicyAllows() {
    assertThatCode(() -> authorizer.authorize(APP, "kms:Encrypt", KEY, Policy.parse(DEFAULT_POLICY), Map.of(),
        () -> true)).doesNotThrowAnyException();
  }

  @Test
  void aRoleSessionHasItsRolesIdentityPolicies() {
    policies.put("arn:aws:iam::111122223333:role/worker", "EncryptDecrypt", ENCRYPT_AND_DECRYPT_WITH_KEY);
    assertThat(deniedOnKey(WORKER_SESSION, "kms:Encrypt", KEY)).isNull();
  }

  @Test
  void whenTheAccountMeansEveryCallerOnlyAdministrationNeedsAnIdentityPolicy() {
    Authorizer everyCaller = new Authorizer(policies, AccountPrincipal.MEANS_EVERY_CALLER);
    assertThatCode(() -> everyCaller.authorize(APP, "kms:Encrypt", KEY, Policy.parse(DEFAULT_POLICY), Map.of(),
        () -> false)).doesNotThrowAnyException();
    assertThatCode(() -> everyCaller.authorizeWithoutKey(APP, "kms:CreateKey", NO_KEY, false))
        .doesNotThrowAnyException();
    assertThatThrownBy(() -> everyCaller.authorizeWithoutKey(APP, "kms:CreateCustomKeyStore", NO_KEY, true))
        .hasMessageEndingWith("because no identity-based policy allows the kms:CreateCustomKeyStore action");

    policies.put(APP.arn(), IdentityPolicies.ADMINISTRATOR, IdentityPolicies.ADMINISTRATOR_DOCUMENT);
    assertThatCode(() -> everyCaller.authorizeWithoutKey(APP, "kms:CreateCustomKeyStore", NO_KEY, true))
        .doesNotThrowAnyException();
    policies.put(APP.arn(), "NoCreateKey", """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*"}]}""");
    assertThatThrownBy(() -> everyCaller.authorizeWithoutKey(APP, "kms:CreateKey", NO_KEY, false))
        .hasMessageEndingWith("with an explicit deny in an identity-based policy");
  }

  @Test
  void theLockoutCheckCountsTheIdentityPolicies() {
    assertThatThrownBy(() -> authorizer.checkNotLockedOut(DEFAULT_POLICY, APP, KEY))
        .hasMessage("The new key policy will not allow you to update the key policy in the future.");
    policies.put(APP.arn(), "KeyAdministration", """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:PutKeyPolicy", "Resource": "*"}]}""");
    assertThatCode(() -> authorizer.checkNotLockedOut(DEFAULT_POLICY, APP, KEY)).doesNotThrowAnyException();
  }

  @Test
  void policiesArePutReadListedAndDeleted() {
    policies.put(APP.arn(), "B", READ_ONLY);
    policies.put(APP.arn(), "A", ENCRYPT_AND_DECRYPT_WITH_KEY);
    policies.put(APP.arn(), "B", ENCRYPT_AND_DECRYPT_WITH_KEY);

    assertThat(policies.names(APP.arn())).containsExactly("A", "B");
    assertThat(policies.get(APP.arn(), "B")).contains(ENCRYPT_AND_DECRYPT_WITH_KEY);
    assertThat(policies.get(AUDITOR.arn(), "B")).isEmpty();
    assertThat(deniedOnKey(APP, "kms:Encrypt", KEY)).isNull();

    assertThat(policies.delete(APP.arn(), "A")).isTrue();
    assertThat(policies.delete(APP.arn(), "B")).isTrue();
    assertThat(policies.delete(APP.arn(), "B")).isFalse();
    assertThat(policies.names(APP.arn())).isEmpty();
    assertThat(deniedOnKey(APP, "kms:Encrypt", KEY)).as("forgotten at once on this node").isNotNull();
  }

  @Test
  void aChangeOnOneNodeHoldsOnAnotherWithinASecond() throws InterruptedException {
    try (JdbcMetadataStore nodeB = TestMetadata.openOnPostgresql(data);
        JdbcMetadataStore nodeA = TestMetadata.openOnPostgresql(data)) {
      IdentityPolicies policiesA = new IdentityPolicies(nodeA);
      Authorizer authorizerB = new Authorizer(new IdentityPolicies(nodeB), AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES);
      assertThat(deniedOnKey(authorizerB, APP, "kms:Encrypt", KEY)).isNotNull(); // remembered as none, until a change

      policiesA.put(APP.arn(), "EncryptDecrypt", ENCRYPT_AND_DECRYPT_WITH_KEY);
      assertWithinASecond(() -> deniedOnKey(authorizerB, APP, "kms:Encrypt", KEY) == null);

      policiesA.delete(APP.arn(), "EncryptDecrypt");
      assertWithinASecond(() -> deniedOnKey(authorizerB, APP, "kms:Encrypt", KEY) != null);
    }
  }

  @Test
  void aDocumentIdentityPoliciesCannotHaveIsRefused() {
    String withPrincipal = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
          "Action": "kms:Encrypt", "Resource": "*"}]}""";
    assertThatThrownBy(() -> policies.put(APP.arn(), "P", withPrincipal))
        .isInstanceOfSatisfying(KmsException.class,
            e -> assertThat(e.type()).isEqualTo(MalformedPolicyDocumentException))
        .hasMessage("Has prohibited field Principal.");
    String large = READ_ONLY.replace("\"kms:Get*\"", "\"kms:Get*\"" + ", \"kms:Get*\"".repeat(1000));
    assertThatThrownBy(() -> policies.put(APP.arn(), "P", large))
        .isInstanceOfSatisfying(KmsException.class, e -> assertThat(e.type()).isEqualTo(LimitExceededException))
        .hasMessage("The identity policy exceeds the maximum size of 10240 bytes.");
    assertThatThrownBy(() -> policies.put(APP.arn(), "no spaces", READ_ONLY))
        .isInstanceOfSatisfying(KmsException.class, e -> assertThat(e.type()).isEqualTo(ValidationException));
    assertThat(policies.names(APP.arn())).isEmpty();
  }

  /** AWS's message if {@code principal} may not run {@code action} on {@code keyArn} under the default policy; null if it may. */
  private String deniedOnKey(Principal principal, String action, String keyArn) {
    return deniedOnKey(authorizer, principal, action, keyArn);
  }

  private static String deniedOnKey(Authorizer authorizer, Principal principal, String action, String keyArn) {
    try {
      authorizer.authorize(principal, action, keyArn, Policy.parse(DEFAULT_POLICY), Map.of(), () -> false);
      return null;
    } catch (KmsException e) {
      assertThat(e.type()).isEqualTo(AccessDeniedException);
      return e.getMessage();
    }
  }

  private String deniedWithoutKey(Principal principal, String action) {
    try {
      authorizer.authorizeWithoutKey(principal, action, NO_KEY, action.endsWith("CustomKeyStore")
          || action.endsWith("CustomKeyStores"));
      return null;
    } catch (KmsException e) {
      assertThat(e.type()).isEqualTo(AccessDeniedException);
      return e.getMessage();
    }
  }

  private static void assertWithinASecond(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(1).toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("within a second").isLessThan(deadline);
      Thread.sleep(20);
    }
  }
}
