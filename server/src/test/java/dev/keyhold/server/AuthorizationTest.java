package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.SecretAccessKey;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * Who may do what, decided over HTTP as IAM would: the AWS SDK signs as the account root, as alice
 * (a user of the account), as mallory (a user of another account) or with a wrong secret, and each
 * key's policy decides.
 */
class AuthorizationTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final String ALICE = "arn:aws:iam::111122223333:user/alice";
  private static final String CAROL = "arn:aws:iam::111122223333:user/carol";
  private static final SdkBytes PLAINTEXT = SdkBytes.fromUtf8String("for alice's eyes");

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static KmsClient root;
  private static KmsClient alice;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, 0);
    root = keyhold.client(keyhold.admin);
    alice = keyhold.client(keyhold.alice);
  }

  @AfterAll
  static void stop() {
    keyhold.close();
  }

  @Test
  void aWrongSecretIsRefusedBeforeAnyPolicyIsRead() {
    Credential forged = new Credential(keyhold.alice.accessKeyId(), SecretAccessKey.random(new SecureRandom()),
        ALICE);
    assertThat(error(() -> keyhold.client(forged).listKeys()))
        .isEqualTo("InvalidSignatureException: The request signature we calculated does not match the signature you "
            + "provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for "
            + "details.");
  }

  @Test
  void theDefaultPolicyTrustsTheAccountAndNoOneElse() {
    String keyId = root.createKey(r -> r.description("default policy")).keyMetadata().keyId();
    assertThat(alice.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)).ciphertextBlob()).isNotNull();
    assertThat(error(() -> keyhold.client(keyhold.mallory).encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT))))
        .isEqualTo("AccessDeniedException: User: arn:aws:iam::444455556666:user/mallory is not authorized to perform: "
            + "kms:Encrypt on resource: " + arn(keyId) + " because no resource-based policy allows the kms:Encrypt "
            + "action");
    SdkBytes blob = alice.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)).ciphertextBlob();
    assertThat(error(() -> keyhold.client(keyhold.mallory).decrypt(r -> r.ciphertextBlob(blob)
        .encryptionContext(Map.of("guess", "wrong")))))
        .as("decided from the ciphertext's header, before the HSM could say anything about the blob")
        .startsWith("AccessDeniedException: User: arn:aws:iam::444455556666:user/mallory is not authorized to "
            + "perform: kms:Decrypt");
  }

  @Test
  void anotherPrincipalWithoutAGrantIsDenied() {
    // Not the account root: a statement naming it would let alice in through her identity policy (UsesKms).
    String keyId = keyWithPolicy(statement("Allow", "\"" + CAROL + "\"", "\"kms:*\"", ""));
    assertThat(error(() -> alice.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT))))
        .isEqualTo("AccessDeniedException: User: " + ALICE + " is not authorized to perform: kms:Encrypt on resource: "
            + arn(keyId) + " because no resource-based policy allows the kms:Encrypt action");
    assertThat(error(() -> root.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT))))
        .as("the root too, once a policy names someone else only").startsWith("AccessDeniedException: ");
  }

  @Test
  void aDenyOverridesAnAllow() {
    String keyId = keyWithPolicy(
        statement("Allow", "\"" + keyhold.admin.principalArn() + "\"", "\"kms:*\"", ""),
        statement("Allow", "\"" + ALICE + "\"", "\"kms:*\"", ""),
        statement("Deny", "\"" + ALICE + "\"", "\"kms:Decrypt\"", ""));
    SdkBytes blob = alice.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)).ciphertextBlob();
    assertThat(error(() -> alice.decrypt(r -> r.ciphertextBlob(blob))))
        .isEqualTo("AccessDeniedException: User: " + ALICE + " is not authorized to perform: kms:Decrypt on resource: "
            + arn(keyId) + " with an explicit deny in a resource-based policy");
    assertThat(root.decrypt(r -> r.ciphertextBlob(blob)).plaintext()).isEqualTo(PLAINTEXT);
  }

  @Test
  void anEncryptionContextConditionDecides() {
    String keyId = keyWithPolicy(
        statement("Allow", "\"" + ALICE + "\"", "[\"kms:Encrypt\", \"kms:Decrypt\"]",
            ", \"Condition\": {\"StringEquals\": {\"kms:EncryptionContext:tenant\": \"alice\"}}"));
    Map<String, String> hers = Map.of("tenant", "alice");
    SdkBytes blob = alice.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).encryptionContext(hers)).ciphertextBlob();
    assertThat(alice.decrypt(r -> r.ciphertextBlob(blob).encryptionContext(hers)).plaintext()).isEqualTo(PLAINTEXT);

    assertThat(error(() -> alice.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)
        .encryptionContext(Map.of("tenant", "bob"))))).startsWith("AccessDeniedException: User: " + ALICE);
    assertThat(error(() -> alice.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT))))
        .as("no context, no match").startsWith("AccessDeniedException: User: " + ALICE);
  }

  @Test
  void keyStoreOperationsAreForAdministratorsOnly() {
    assertThat(error(() -> alice.describeCustomKeyStores())).startsWith("AccessDeniedException: User: " + ALICE
        + " is not authorized to perform: kms:DescribeCustomKeyStores");
    assertThat(root.describeCustomKeyStores().customKeyStores()).isNotEmpty();
  }

  /** A key with {@code statements} as its policy, which may lock the root out (hence the bypass). */
  private static String keyWithPolicy(String... statements) {
    String policy = "{\"Version\": \"2012-10-17\", \"Statement\": [" + String.join(", ", statements) + "]}";
    return root.createKey(r -> r.policy(policy).bypassPolicyLockoutSafetyCheck(true)).keyMetadata().keyId();
  }

  private static String statement(String effect, String principal, String action, String more) {
    return "{\"Effect\": \"" + effect + "\", \"Principal\": {\"AWS\": " + principal + "}, \"Action\": " + action
        + ", \"Resource\": \"*\"" + more + "}";
  }

  private static String arn(String keyId) {
    return "arn:aws:kms:us-east-1:111122223333:key/" + keyId;
  }

  /** The AWS error as {@code <type>: <message>}. */
  private static String error(Runnable call) {
    try {
      call.run();
    } catch (KmsException e) {
      return e.awsErrorDetails().errorCode() + ": " + e.awsErrorDetails().errorMessage();
    }
    throw new AssertionError("the call succeeded");
  }
}
