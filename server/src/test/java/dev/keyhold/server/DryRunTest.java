package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.server.ops.RequestOutcome;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;
import software.amazon.awssdk.services.kms.model.CreateGrantResponse;
import software.amazon.awssdk.services.kms.model.DryRunModifierType;
import software.amazon.awssdk.services.kms.model.DryRunOperationException;
import software.amazon.awssdk.services.kms.model.GrantOperation;
import software.amazon.awssdk.services.kms.model.KeyState;
import software.amazon.awssdk.services.kms.model.KmsException;
import software.amazon.awssdk.services.kms.model.OriginType;

/**
 * DryRun over HTTP, through the AWS SDK: each operation that has it, for a caller the key's policy
 * allows and one it does not, on a key in each state. A dry run answers as the run would, but for
 * DryRunOperationException where the run succeeds.
 */
class DryRunTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final SdkBytes PLAINTEXT = SdkBytes.fromUtf8String("a secret");
  private static final String DRY_RUN =
      "DryRunOperationException: The request would have succeeded, but the DryRun option is set.";

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static KmsClient root;
  /** A key per state, by the SDK's name of the state. */
  private static final Map<KeyState, String> KEYS = new LinkedHashMap<>();
  /** A ciphertext of each key of {@link #KEYS}, made while it was enabled. */
  private static final Map<String, SdkBytes> BLOBS = new LinkedHashMap<>();
  /** A grant of each key of {@link #KEYS} to alice, who may retire it, made while it was enabled. */
  private static final Map<String, CreateGrantResponse> GRANTS = new LinkedHashMap<>();
  private static String destination;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, 1);
    root = keyhold.client(keyhold.admin);
    destination = newKey(null);
    for (KeyState state : List.of(KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_DELETION)) {
      KEYS.put(state, newKey(null));
    }
    Cluster spare = keyhold.spareClusters.get(0);
    String store = root.createCustomKeyStore(r -> r.customKeyStoreName("to-disconnect")
        .cloudHsmClusterId(spare.clusterId()).trustAnchorCertificate(spare.trustAnchor().pem())
        .keyStorePassword(keyhold.kmsuserPassword())).customKeyStoreId();
    connect(store);
    KEYS.put(KeyState.UNAVAILABLE, newKey(store));

    KEYS.values().forEach(keyId -> GRANTS.put(keyId, root.createGrant(r -> r.keyId(keyId)
        .granteePrincipal(keyhold.alice.principalArn()).retiringPrincipal(keyhold.alice.principalArn())
        .operations(GrantOperation.ENCRYPT))));
    root.disableKey(r -> r.keyId(KEYS.get(KeyState.DISABLED)));
    root.scheduleKeyDeletion(r -> r.keyId(KEYS.get(KeyState.PENDING_DELETION)).pendingWindowInDays(7));
    root.disconnectCustomKeyStore(r -> r.customKeyStoreId(store));
    KEYS.forEach((state, keyId) ->
        assertThat(root.describeKey(r -> r.keyId(keyId)).keyMetadata().keyState()).isEqualTo(state));
  }

  @AfterAll
  static void stop() {
    root.close();
    keyhold.close();
  }

  /** Each operation with DryRun, as a client calls it on a key. */
  private static final Map<String, BiConsumer<KmsClient, String>> OPERATIONS = operations();

  private static Map<String, BiConsumer<KmsClient, String>> operations() {
    Map<String, BiConsumer<KmsClient, String>> operations = new LinkedHashMap<>();
    operations.put("Encrypt", (client, keyId) -> client.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).dryRun(true)));
    operations.put("Decrypt", (client, keyId) -> client.decrypt(r -> r.ciphertextBlob(BLOBS.get(keyId)).dryRun(true)));
    operations.put("Decrypt, IGNORE_CIPHERTEXT", (client, keyId) -> client.decrypt(r -> r.keyId(keyId).dryRun(true)
        .dryRunModifiers(DryRunModifierType.IGNORE_CIPHERTEXT)));
    operations.put("ReEncrypt", (client, keyId) -> client.reEncrypt(r -> r.ciphertextBlob(BLOBS.get(keyId))
        .destinationKeyId(destination).dryRun(true)));
    operations.put("ReEncrypt, to the key", (client, keyId) -> client.reEncrypt(r -> r
        .ciphertextBlob(BLOBS.get(destination)).destinationKeyId(keyId).dryRun(true)));
    operations.put("GenerateDataKey", (client, keyId) -> client.generateDataKey(r -> r.keyId(keyId)
        .keySpec("AES_256").dryRun(true)));
    operations.put("GenerateDataKeyWithoutPlaintext", (client, keyId) -> client.generateDataKeyWithoutPlaintext(r -> r
        .keyId(keyId).numberOfBytes(32).dryRun(true)));
    return operations;
  }

  @Test
  void aDryRunAnswersAsTheRunWouldInEveryKeyState() {
    Map<KeyState, String> expected = Map.of(
        KeyState.ENABLED, DRY_RUN,
        KeyState.DISABLED, "DisabledException: {arn} is disabled.",
        KeyState.PENDING_DELETION, "KMSInvalidStateException: {arn} is pending deletion.",
        KeyState.UNAVAILABLE, "KMSInvalidStateException: {arn} is unavailable.");
    List<String> mismatches = new ArrayList<>();
    OPERATIONS.forEach((operation, call) -> KEYS.forEach((state, keyId) -> {
      String outcome = error(() -> call.accept(root, keyId));
      String wanted = expected.get(state).replace("{arn}", arn(keyId));
      if (!outcome.equals(wanted)) {
        mismatches.add(operation + " on a key " + state + ": got '" + outcome + "', expected '" + wanted + "'");
      }
    }));
    assertThat(mismatches).isEmpty();
  }

  @Test
  void aCallerThePolicyDoesNotAllowIsDeniedInEveryKeyState() {
    try (KmsClient mallory = keyhold.client(keyhold.mallory)) {
      List<String> mismatches = new ArrayList<>();
      OPERATIONS.forEach((operation, call) -> KEYS.forEach((state, keyId) -> {
        String outcome = error(() -> call.accept(mallory, keyId));
        if (!outcome.startsWith("AccessDeniedException: User: arn:aws:iam::444455556666:user/mallory is not "
            + "authorized to perform: kms:")) {
          mismatches.add(operation + " on a key " + state + ": got '" + outcome + "'");
        }
      }));
      assertThat(mismatches).isEmpty();
    }
  }

  /**
   * CreateGrant needs an enabled key, or one in a disconnected store; RetireGrant and RevokeGrant take
   * a key in any state. Denied callers are denied in every state.
   */
  @Test
  void theGrantOperationsDryRunAsTheyRunInEveryKeyState() {
    List<String> mismatches = new ArrayList<>();
    try (KmsClient alice = keyhold.client(keyhold.alice); KmsClient mallory = keyhold.client(keyhold.mallory)) {
      KEYS.forEach((state, keyId) -> {
        Map<String, String> outcomes = new LinkedHashMap<>();
        outcomes.put("CreateGrant", error(() -> root.createGrant(r -> r.keyId(keyId)
            .granteePrincipal(keyhold.mallory.principalArn()).operations(GrantOperation.DECRYPT).dryRun(true))));
        outcomes.put("RevokeGrant", error(() -> root.revokeGrant(r -> r.keyId(keyId)
            .grantId(GRANTS.get(keyId).grantId()).dryRun(true))));
        outcomes.put("RetireGrant", error(() -> alice.retireGrant(r -> r.grantToken(GRANTS.get(keyId).grantToken())
            .dryRun(true))));
        String createGrant = switch (state) {
          case DISABLED -> "DisabledException: {arn} is disabled.";
          case PENDING_DELETION -> "KMSInvalidStateException: {arn} is pending deletion.";
          default -> DRY_RUN;
        };
        Map<String, String> expected = Map.of("CreateGrant", createGrant.replace("{arn}", arn(keyId)),
            "RevokeGrant", DRY_RUN, "RetireGrant", DRY_RUN);
        outcomes.forEach((operation, outcome) -> {
          if (!outcome.equals(expected.get(operation))) {
            mismatches.add(operation + " on a key " + state + ": got '" + outcome + "'");
          }
        });
        for (Runnable denied : List.<Runnable>of(
            () -> mallory.createGrant(r -> r.keyId(keyId).granteePrincipal(keyhold.mallory.principalArn())
                .operations(GrantOperation.DECRYPT).dryRun(true)),
            () -> mallory.revokeGrant(r -> r.keyId(keyId).grantId(GRANTS.get(keyId).grantId()).dryRun(true)),
            () -> mallory.retireGrant(r -> r.grantToken(GRANTS.get(keyId).grantToken()).dryRun(true)))) {
          String outcome = error(denied);
          if (!outcome.startsWith("AccessDeniedException: ")) {
            mismatches.add("mallory on a key " + state + ": got '" + outcome + "'");
          }
        }
      });
    }
    assertThat(mismatches).isEmpty();
    GRANTS.forEach((keyId, grant) -> assertThat(root.listGrants(r -> r.keyId(keyId)).grants()).singleElement()
        .extracting(entry -> entry.grantId()).as("nothing changed").isEqualTo(grant.grantId()));
  }

  @Test
  void aDryRunIsAnsweredAsTheSdkExpectsAndAudited() {
    String keyId = KEYS.get(KeyState.ENABLED);
    DryRunOperationException e = catchThrowableOfType(DryRunOperationException.class,
        () -> root.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).encryptionContext(Map.of("purpose", "x"))
            .dryRun(true)));
    assertThat(e).isNotNull();
    assertThat(e.statusCode()).isEqualTo(400);

    RequestOutcome outcome = keyhold.outcomes.stream().filter(o -> o.requestId().equals(e.requestId()))
        .findFirst().orElseThrow();
    assertThat(outcome.errorType()).hasValue("DryRunOperationException");
    assertThat(outcome.keyArn()).hasValue(arn(keyId));
    assertThat(outcome.encryptionContextKeys()).containsExactly("purpose");

    // Without DryRun, or with it false, the same requests run.
    assertThat(root.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).dryRun(false)).ciphertextBlob()).isNotNull();
    assertThat(error(() -> root.decrypt(r -> r.dryRun(true).dryRunModifiers(DryRunModifierType.IGNORE_CIPHERTEXT))))
        .isEqualTo("ValidationException: 1 validation error detected: Value null at 'keyId' failed to satisfy "
            + "constraint: Member must not be null");
  }

  /** A new key, in {@code store} if not null, with a ciphertext of its own in {@link #BLOBS}. */
  private static String newKey(String store) {
    String keyId = root.createKey(r -> {
      if (store != null) {
        r.origin(OriginType.AWS_CLOUDHSM).customKeyStoreId(store);
      }
    }).keyMetadata().keyId();
    BLOBS.put(keyId, root.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)).ciphertextBlob());
    return keyId;
  }

  private static void connect(String store) throws InterruptedException {
    root.connectCustomKeyStore(r -> r.customKeyStoreId(store));
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (state(store) == ConnectionStateType.CONNECTING && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(state(store)).isEqualTo(ConnectionStateType.CONNECTED);
  }

  private static ConnectionStateType state(String store) {
    return root.describeCustomKeyStores(r -> r.customKeyStoreId(store)).customKeyStores().get(0).connectionState();
  }

  private static String arn(String keyId) {
    return "arn:aws:kms:us-east-1:111122223333:key/" + keyId;
  }

  /** The AWS error as {@code <type>: <message>}. */
  private static String error(Runnable call) {
    try {
      call.run();
    } catch (KmsException e) {
      assertThat(e.statusCode()).isEqualTo(400);
      return e.awsErrorDetails().errorCode() + ": " + e.awsErrorDetails().errorMessage();
    }
    return "the call succeeded";
  }
}
