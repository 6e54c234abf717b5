package dev.keyhold.app.operator;

import static dev.keyhold.app.operator.OperatorSite.awaitWithin;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.kms.policy.IdentityPolicies;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateGrantResponse;
import software.amazon.awssdk.services.kms.model.GrantOperation;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * The three means of authorization (key policies, identity policies, grants) as an operator sets them
 * up for three credentials (an administrator, an application and an auditor) on two nodes in operator
 * mode, driven with the AWS SDK for Java and with boto3 (src/test/python/three_credentials.py, which
 * says what it checks). Each test makes its own principals and keys.
 */
class ThreeCredentialsTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  private static final Duration A_SECOND = Duration.ofSeconds(1);
  private static final Path BOTO3_CHECKS = Path.of("src", "test", "python", "three_credentials.py");
  /** Debian's Python, where python3-boto3 installs boto3 (bin/prerequisites.sh). */
  private static final String PYTHON = "/usr/bin/python3";
  private static final String KEY_ADMINISTRATION = """
      {"Version": "2012-10-17", "Statement": [{"Sid": "KeyAdministration", "Effect": "Allow",
        "Action": ["kms:Create*", "kms:Describe*", "kms:List*", "kms:Get*", "kms:Put*", "kms:Update*",
                   "kms:Enable*", "kms:Disable*", "kms:Revoke*", "kms:Retire*", "kms:TagResource",
                   "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
        "Resource": "*"}]}""";
  private static final String READ_ONLY = """
      {"Version": "2012-10-17", "Statement": [{"Sid": "ReadOnly", "Effect": "Allow",
        "Action": ["kms:Describe*", "kms:List*", "kms:Get*"], "Resource": "*"}]}""";
  private static final Map<String, String> CONTEXT = Map.of("app", "billing", "tenant", "42");

  @TempDir static Path work;
  private static OperatorSite site;
  private static OperatorSite.Node nodeA;
  private static OperatorSite.Node nodeB;

  @BeforeAll
  static void startTwoNodes() throws Exception {
    site = new OperatorSite(softhsm, work);
    nodeA = site.start("node-a");
    nodeB = site.start("node-b");
    site.connectMainStore(nodeA);
    // Node b logs in to the store once it hears of the connect.
    String probe = nodeA.client().createKey(r -> r.description("probe")).keyMetadata().keyId();
    awaitWithin(Duration.ofSeconds(60), () -> {
      try {
        nodeB.client().encrypt(r -> r.keyId(probe).plaintext(SdkBytes.fromUtf8String("probe")));
        return true;
      } catch (KmsException e) {
        return false;
      }
    });
  }

  @AfterAll
  static void stop() {
    site.close();
  }

  /** The three credentials of one test, and its three keys. */
  private record Setup(Credential admin, Credential app, Credential auditor, String keyGranted, String keyOwn,
      String keyDenied) {}

  @Test
  void theJavaSdk() throws InterruptedException {
    Setup setup = setUp("java");
    KmsClient admin = nodeA.clientAs(setup.admin());
    KmsClient appA = nodeA.clientAs(setup.app());
    KmsClient appB = nodeB.clientAs(setup.app());
    KmsClient auditor = nodeB.clientAs(setup.auditor());
    String appArn = setup.app().principalArn();

    // The application and a grant with an EncryptionContextSubset constraint.
    assertThat(denied(() -> encrypt(appA, setup.keyGranted(), CONTEXT)))
        .isEqualTo("User: " + appArn + " is not authorized to perform: kms:Encrypt on resource: "
            + arn(setup.keyGranted()) + " because no identity-based policy allows the kms:Encrypt action");
    CreateGrantResponse grant = admin.createGrant(r -> r.keyId(setup.keyGranted()).granteePrincipal(appArn)
        .operations(GrantOperation.ENCRYPT, GrantOperation.DECRYPT)
        .constraints(c -> c.encryptionContextSubset(Map.of("app", "billing"))));
    SdkBytes blob = appB.encrypt(r -> r.keyId(setup.keyGranted()).plaintext(SdkBytes.fromUtf8String("java"))
        .encryptionContext(CONTEXT).grantTokens(grant.grantToken())).ciphertextBlob();
    assertThat(appB.decrypt(r -> r.ciphertextBlob(blob).encryptionContext(CONTEXT).grantTokens(grant.grantToken()))
        .plaintext().asUtf8String()).isEqualTo("java");
    assertThat(denied(() -> appB.encrypt(r -> r.keyId(setup.keyGranted()).plaintext(SdkBytes.fromUtf8String("x"))
        .encryptionContext(Map.of("app", "payroll")).grantTokens(grant.grantToken()))))
        .endsWith("because no identity-based policy allows the kms:Encrypt action");
    awaitWithin(A_SECOND, () -> allowed(() -> encrypt(appB, setup.keyGranted(), CONTEXT)));
    admin.revokeGrant(r -> r.keyId(setup.keyGranted()).grantId(grant.grantId()));
    awaitWithin(A_SECOND, () -> !allowed(() -> encrypt(appB, setup.keyGranted(), CONTEXT)));

    // The application's identity policy: exactly its actions and keys.
    SdkBytes own = encrypt(appA, setup.keyOwn(), CONTEXT);
    appB.decrypt(r -> r.ciphertextBlob(own).encryptionContext(CONTEXT));
    assertThat(denied(() -> appA.generateDataKey(r -> r.keyId(setup.keyOwn()).numberOfBytes(32))))
        .endsWith("because no identity-based policy allows the kms:GenerateDataKey action");
    assertThat(denied(() -> appA.describeKey(r -> r.keyId(setup.keyOwn())))).endsWith("kms:DescribeKey action");
    assertThat(denied(() -> appA.listKeys())).endsWith("kms:ListKeys action");

    // The auditor: DescribeKey and ListKeys, no crypto.
    assertThat(auditor.describeKey(r -> r.keyId(setup.keyOwn())).keyMetadata().keyId()).isEqualTo(setup.keyOwn());
    assertThat(auditor.listKeys().keys()).anyMatch(key -> key.keyId().equals(setup.keyOwn()));
    assertThat(denied(() -> encrypt(auditor, setup.keyOwn(), CONTEXT))).endsWith("kms:Encrypt action");
    assertThat(denied(() -> auditor.decrypt(r -> r.ciphertextBlob(own).encryptionContext(CONTEXT))))
        .endsWith("kms:Decrypt action");

    // An explicit deny in the key policy overrides the identity policy and a grant.
    admin.createGrant(r -> r.keyId(setup.keyDenied()).granteePrincipal(appArn).operations(GrantOperation.ENCRYPT));
    assertThat(denied(() -> encrypt(appB, setup.keyDenied(), CONTEXT)))
        .endsWith("with an explicit deny in a resource-based policy");
  }

  @Test
  void boto3() throws IOException, InterruptedException {
    Setup setup = setUp("python");
    ProcessBuilder python = new ProcessBuilder(PYTHON, BOTO3_CHECKS.toString()).redirectErrorStream(true);
    Map<String, String> environment = python.environment();
    environment.put("NODE_A", nodeA.uri().toString());
    environment.put("NODE_B", nodeB.uri().toString());
    environment.put("REGION", nodeA.region().id());
    environment.put("APP_ARN", setup.app().principalArn());
    environment.put("KEY_GRANTED", setup.keyGranted());
    environment.put("KEY_OWN", setup.keyOwn());
    environment.put("KEY_DENIED", setup.keyDenied());
    Map.of("ADMIN", setup.admin(), "APP", setup.app(), "AUDITOR", setup.auditor()).forEach((who, credential) -> {
      environment.put(who + "_ACCESS_KEY_ID", credential.accessKeyId());
      environment.put(who + "_SECRET_ACCESS_KEY", credential.secretAccessKey().withChars(String::valueOf));
    });
    Process run = python.start();
    String output = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(run.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(run.exitValue()).as(output).isZero();
    assertThat(output).contains("ok revoked on one node, refused on the other", "ok retired on one node, refused on "
        + "the other", "ok auditor DescribeKey and ListKeys", "ok the key policy's deny", "all checks passed");
  }

  /**
   * The test's administrator (the key store operations and key administration), application (Encrypt
   * and Decrypt with its own key and the denied one) and auditor (read only), each a principal of its
   * own named after {@code test}, and three keys of the default key store made by the administrator.
   */
  private static Setup setUp(String test) {
    String account = "arn:aws:iam::111122223333:user/";
    Credential admin = site.newCredential(account + test + "-admin");
    Credential app = site.newCredential(account + test + "-app");
    Credential auditor = site.newCredential(account + test + "-auditor");
    site.putIdentityPolicy(admin.principalArn(), IdentityPolicies.ADMINISTRATOR, IdentityPolicies.ADMINISTRATOR_DOCUMENT);
    site.putIdentityPolicy(admin.principalArn(), "KeyAdministration", KEY_ADMINISTRATION);
    site.putIdentityPolicy(auditor.principalArn(), "ReadOnly", READ_ONLY);

    KmsClient client = nodeA.clientAs(admin);
    String keyGranted = client.createKey(r -> r.description(test + " granted")).keyMetadata().keyId();
    String keyOwn = client.createKey(r -> r.description(test + " own")).keyMetadata().keyId();
    String keyDenied = client.createKey(r -> r.description(test + " denied").policy("""
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
          {"Effect": "Deny", "Principal": {"AWS": "%s"}, "Action": "kms:*", "Resource": "*"}]}"""
        .formatted(app.principalArn()))).keyMetadata().keyId();
    site.putIdentityPolicy(app.principalArn(), "EncryptDecrypt", """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"],
          "Resource": ["%s", "%s"]}]}""".formatted(arn(keyOwn), arn(keyDenied)));
    return new Setup(admin, app, auditor, keyGranted, keyOwn, keyDenied);
  }

  private static String arn(String keyId) {
    return "arn:aws:kms:" + nodeA.region().id() + ":111122223333:key/" + keyId;
  }

  private static SdkBytes encrypt(KmsClient client, String keyId, Map<String, String> context) {
    return client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("three means"))
        .encryptionContext(context)).ciphertextBlob();
  }

  /** AWS's message of the AccessDeniedException {@code call} answers. */
  private static String denied(Runnable call) {
    KmsException e = catchThrowableOfType(KmsException.class, call::run);
    assertThat(e).as("denied").isNotNull();
    assertThat(e.awsErrorDetails().errorCode()).isEqualTo("AccessDeniedException");
    return e.awsErrorDetails().errorMessage();
  }

  private static boolean allowed(Runnable call) {
    try {
      call.run();
      return true;
    } catch (KmsException e) {
      assertThat(e.awsErrorDetails().errorCode()).isEqualTo("AccessDeniedException");
      return false;
    }
  }
}
