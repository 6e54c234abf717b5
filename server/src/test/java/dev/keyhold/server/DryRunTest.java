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
import software.amazon.awssdk.services.kms.model.DryRunModifierType;
import software.amazon.awssdk.services.kms.model.DryRunOperationException;
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
