package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateGrantResponse;
import software.amazon.awssdk.services.kms.model.GrantListEntry;
import software.amazon.awssdk.services.kms.model.GrantOperation;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * Grants over HTTP, through the AWS SDK: alice, whom a key's policy allows, grants mallory (of another
 * account, whom no policy names) the use of the key; the grant decides mallory's requests, within its
 * operations and constraints, until it is retired or revoked; an explicit deny in the policy wins.
 */
class GrantsApiTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final String ALICE = "arn:aws:iam::111122223333:user/alice";
  private static final String MALLORY = "arn:aws:iam::444455556666:user/mallory";
  private static final SdkBytes PLAINTEXT = SdkBytes.fromUtf8String("shared with a grant");
  private static final Map<String, String> BLUE = Map.of("tenant", "blue");

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static KmsClient alice;
  private static KmsClient mallory;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, 0);
    alice = keyhold.client(keyhold.alice);
    mallory = keyhold.client(keyhold.mallory);
  }

  @AfterAll
  static void stop() {
    alice.close();
    mallory.close();
    keyhold.close();
    assertThat(keyhold.outcomes).allSatisfy(outcome -> assertThat(outcome.httpStatus()).isLessThan(500));
  }

  @Test
  void aGrantLetsItsGranteeUseTheKeyWithinItsOperationsAndConstraintsUntilRetired() {
    String keyId = keyWithPolicy(allow(ALICE, "kms:*"));
    assertThat(error(() -> encrypt(mallory, keyId, BLUE))).startsWith("AccessDeniedException: User: " + MALLORY);

    CreateGrantResponse created = alice.createGrant(r -> r.keyId(keyId).granteePrincipal(MALLORY)
        .retiringPrincipal(MALLORY).operations(GrantOperation.ENCRYPT, GrantOperation.DECRYPT).name("shared")
        .constraints(c -> c.encryptionContextSubset(BLUE)));

    SdkBytes blob = encrypt(mallory, keyId, Map.of("tenant", "blue", "more", "context"));
    assertThat(mallory.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).encryptionContext(BLUE)
        .grantTokens(created.grantToken())).keyId()).as("a token is checked, and needed by no node").isEqualTo(arn(keyId));
    assertThat(error(() -> mallory.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).encryptionContext(BLUE)
        .grantTokens(created.grantToken().substring(1))))).isEqualTo("InvalidGrantTokenException: The grant token is "
            + "not valid.");
    assertThat(mallory.decrypt(r -> r.ciphertextBlob(blob).encryptionContext(Map.of("tenant", "blue", "more", "context")))
        .plaintext()).isEqualTo(PLAINTEXT);
    assertThat(error(() -> encrypt(mallory, keyId, Map.of("tenant", "red"))))
        .as("outside the grant's constraints").startsWith("AccessDeniedException: ");
    assertThat(error(() -> mallory.generateDataKey(r -> r.keyId(keyId).numberOfBytes(16).encryptionContext(BLUE))))
        .as("an operation the grant does not name").startsWith("AccessDeniedException: ");
    assertThat(error(() -> mallory.createGrant(r -> r.keyId(keyId).granteePrincipal(MALLORY)
        .operations(GrantOperation.ENCRYPT)))).as("a grant without CreateGrant").startsWith("AccessDeniedException");

    GrantListEntry listed = alice.listGrants(r -> r.keyId(keyId)).grants().get(0);
    assertThat(listed.grantId()).isEqualTo(created.grantId());
    assertThat(listed.keyId()).isEqualTo(arn(keyId));
    assertThat(listed.name()).isEqualTo("shared");
    assertThat(listed.granteePrincipal()).isEqualTo(MALLORY);
    assertThat(listed.retiringPrincipal()).isEqualTo(MALLORY);
    assertThat(listed.issuingAccount()).isEqualTo("arn:aws:iam::111122223333:root");
    assertThat(listed.operations()).containsExactly(GrantOperation.ENCRYPT, GrantOperation.DECRYPT);
    assertThat(listed.constraints().encryptionContextSubset()).isEqualTo(BLUE);
    assertThat(listed.creationDate()).isBetween(Instant.now().minus(Duration.ofMinutes(1)), Instant.now());
    assertThat(mallory.listRetirableGrants(r -> r.retiringPrincipal(MALLORY)).grants()).containsExactly(listed);
    assertThat(alice.createGrant(r -> r.keyId(keyId).granteePrincipal(MALLORY).retiringPrincipal(MALLORY)
        .operations(GrantOperation.DECRYPT, GrantOperation.ENCRYPT).name("shared")
        .constraints(c -> c.encryptionContextSubset(BLUE))).grantId()).as("idempotent by name").isEqualTo(created.grantId());

    assertThat(error(() -> mallory.retireGrant(r -> r.grantToken(created.grantToken()).dryRun(true))))
        .isEqualTo("DryRunOperationException: The request would have succeeded, but the DryRun option is set.");
    mallory.retireGrant(r -> r.grantToken(created.grantToken()));

    assertThat(error(() -> encrypt(mallory, keyId, BLUE))).startsWith("AccessDeniedException: ");
    assertThat(alice.listGrants(r -> r.keyId(keyId)).grants()).isEmpty();
  }

  @Test
  void aGranteeAllowedCreateGrantGrantsNoMoreThanItHas() {
    String keyId = keyWithPolicy(allow(ALICE, "kms:*"));
    String eve = "arn:aws:iam::444455556666:user/eve";
    alice.createGrant(r -> r.keyId(keyId).granteePrincipal(MALLORY)
        .operations(GrantOperation.ENCRYPT, GrantOperation.CREATE_GRANT).constraints(c -> c.encryptionContextSubset(BLUE)));

    String narrower = mallory.createGrant(r -> r.keyId(keyId).granteePrincipal(eve).operations(GrantOperation.ENCRYPT)
        .constraints(c -> c.encryptionContextSubset(Map.of("tenant", "blue", "region", "eu")))).grantId();
    assertThat(alice.listGrants(r -> r.keyId(keyId).granteePrincipal(eve)).grants()).singleElement()
        .extracting(GrantListEntry::grantId).isEqualTo(narrower);
    assertThat(error(() -> mallory.createGrant(r -> r.keyId(keyId).granteePrincipal(eve)
        .operations(GrantOperation.ENCRYPT, GrantOperation.DECRYPT).constraints(c -> c.encryptionContextSubset(BLUE)))))
        .as("an operation it does not have").startsWith("AccessDeniedException: User: " + MALLORY);
    assertThat(error(() -> mallory.createGrant(r -> r.keyId(keyId).granteePrincipal(eve)
        .operations(GrantOperation.ENCRYPT)))).as("without its constraint").startsWith("AccessDeniedException: ");
  }

  @Test
  void theKeysPolicyRevokesAndItsExplicitDenyWins() {
    String keyId = keyWithPolicy(allow(ALICE, "kms:*"), "{\"Effect\": \"Deny\", \"Principal\": {\"AWS\": \"" + MALLORY
        + "\"}, \"Action\": \"kms:Decrypt\", \"Resource\": \"*\"}");
    String grantId = alice.createGrant(r -> r.keyId(keyId).granteePrincipal(MALLORY)
        .operations(GrantOperation.ENCRYPT, GrantOperation.DECRYPT)).grantId();

    SdkBytes blob = encrypt(mallory, keyId, Map.of());
    assertThat(error(() -> mallory.decrypt(r -> r.ciphertextBlob(blob)))).endsWith("with an explicit deny in a "
        + "resource-based policy");
    assertThat(error(() -> mallory.retireGrant(r -> r.keyId(keyId).grantId(grantId))))
        .as("neither its retiring principal nor granted RetireGrant").startsWith("AccessDeniedException: ");
    assertThat(error(() -> mallory.revokeGrant(r -> r.keyId(keyId).grantId(grantId))))
        .startsWith("AccessDeniedException: ");

    assertThat(error(() -> alice.revokeGrant(r -> r.keyId(keyId).grantId(grantId).dryRun(true))))
        .startsWith("DryRunOperationException: ");
    encrypt(mallory, keyId, Map.of());
    alice.revokeGrant(r -> r.keyId(keyId).grantId(grantId));
    assertThat(error(() -> encrypt(mallory, keyId, Map.of()))).startsWith("AccessDeniedException: ");
    assertThat(error(() -> alice.revokeGrant(r -> r.keyId(keyId).grantId(grantId))))
        .isEqualTo("NotFoundException: Grant ID " + grantId + " not found for key " + arn(keyId) + ".");
  }

  @Test
  void badRequestsGetAwsErrors() {
    String keyId = keyWithPolicy(allow(ALICE, "kms:*"));
    assertThat(error(() -> alice.createGrant(r -> r.keyId(keyId).granteePrincipal(MALLORY).operationsWithStrings("Fly"))))
        .startsWith("ValidationException: 1 validation error detected: Value 'Fly' at 'operations.1.member' failed");
    assertThat(error(() -> alice.createGrant(r -> r.keyId(keyId).operations(GrantOperation.ENCRYPT))))
        .isEqualTo("ValidationException: 1 validation error detected: Value null at 'granteePrincipal' failed to "
            + "satisfy constraint: Member must not be null");
    assertThat(error(() -> alice.createGrant(r -> r.keyId(keyId).granteeServicePrincipal("ec2.amazonaws.com")
        .operations(GrantOperation.ENCRYPT)))).isEqualTo("UnsupportedOperationException: Keyhold does not support "
            + "GranteeServicePrincipal.");
    assertThat(error(() -> alice.createGrant(r -> r.keyId(keyId).granteePrincipal(MALLORY)
        .operations(GrantOperation.ENCRYPT).dryRun(true)))).startsWith("DryRunOperationException: ");
    assertThat(alice.listGrants(r -> r.keyId(keyId)).grants()).as("a dry run creates none").isEmpty();
    assertThat(error(() -> alice.retireGrant(r -> r.grantToken("not-a-token"))))
        .isEqualTo("InvalidGrantTokenException: The grant token is not valid.");
    assertThat(error(() -> alice.revokeGrant(r -> r.keyId(keyId).grantId("1234"))))
        .isEqualTo("InvalidGrantIdException: Invalid grant ID 1234.");
  }

  private static SdkBytes encrypt(KmsClient client, String keyId, Map<String, String> context) {
    return client.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).encryptionContext(context)).ciphertextBlob();
  }

  /** A key that alice creates with {@code statements} as its policy. */
  private static String keyWithPolicy(String... statements) {
    String policy = "{\"Version\": \"2012-10-17\", \"Statement\": [" + String.join(", ", statements) + "]}";
    return alice.createKey(r -> r.policy(policy)).keyMetadata().keyId();
  }

  private static String allow(String principal, String action) {
    return "{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"" + principal + "\"}, \"Action\": \"" + action
        + "\", \"Resource\": \"*\"}";
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
