package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.server.ops.RequestOutcome;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.AliasListEntry;
import software.amazon.awssdk.services.kms.model.AlreadyExistsException;
import software.amazon.awssdk.services.kms.model.CloudHsmClusterInUseException;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;
import software.amazon.awssdk.services.kms.model.CreateKeyResponse;
import software.amazon.awssdk.services.kms.model.CustomKeyStoreHasCmKsException;
import software.amazon.awssdk.services.kms.model.CustomKeyStoreInvalidStateException;
import software.amazon.awssdk.services.kms.model.CustomKeyStoreNotFoundException;
import software.amazon.awssdk.services.kms.model.CustomKeyStoreType;
import software.amazon.awssdk.services.kms.model.CustomKeyStoresListEntry;
import software.amazon.awssdk.services.kms.model.DataKeySpec;
import software.amazon.awssdk.services.kms.model.DecryptResponse;
import software.amazon.awssdk.services.kms.model.DisabledException;
import software.amazon.awssdk.services.kms.model.EncryptResponse;
import software.amazon.awssdk.services.kms.model.EncryptionAlgorithmSpec;
import software.amazon.awssdk.services.kms.model.GenerateDataKeyResponse;
import software.amazon.awssdk.services.kms.model.GenerateDataKeyWithoutPlaintextResponse;
import software.amazon.awssdk.services.kms.model.IncorrectKeyException;
import software.amazon.awssdk.services.kms.model.IncorrectTrustAnchorException;
import software.amazon.awssdk.services.kms.model.InvalidAliasNameException;
import software.amazon.awssdk.services.kms.model.InvalidCiphertextException;
import software.amazon.awssdk.services.kms.model.InvalidKeyUsageException;
import software.amazon.awssdk.services.kms.model.KeyMetadata;
import software.amazon.awssdk.services.kms.model.KeyState;
import software.amazon.awssdk.services.kms.model.KmsException;
import software.amazon.awssdk.services.kms.model.KmsInvalidStateException;
import software.amazon.awssdk.services.kms.model.MalformedPolicyDocumentException;
import software.amazon.awssdk.services.kms.model.NotFoundException;
import software.amazon.awssdk.services.kms.model.OriginType;
import software.amazon.awssdk.services.kms.model.ReEncryptResponse;
import software.amazon.awssdk.services.kms.model.ScheduleKeyDeletionResponse;
import software.amazon.awssdk.services.kms.model.Tag;
import software.amazon.awssdk.services.kms.model.TagException;
import software.amazon.awssdk.services.kms.model.UnsupportedOperationException;

/**
 * Every operation Keyhold serves, driven by the AWS SDK for Java v2 against a real server, over real
 * SoftHSM2 HSMs: answers as the SDK's model reads them, errors as the SDK's typed exceptions.
 */
class KmsApiTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final SdkBytes PLAINTEXT = SdkBytes.fromUtf8String("a secret worth an HSM");
  private static final Map<String, String> CONTEXT = Map.of("purpose", "test", "tenant", "blue");

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static KmsClient admin;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, 2);
    admin = keyhold.client(keyhold.admin);
  }

  @AfterAll
  static void stop() {
    admin.close();
    keyhold.close();
    assertThat(keyhold.outcomes).allSatisfy(outcome -> assertThat(outcome.httpStatus()).isLessThan(500));
  }

  @Test
  void aKeyStoresWholeLife() throws Exception {
    Cluster cluster = keyhold.spareClusters.get(0);
    String id = createStore("life", cluster);
    assertThat(id).startsWith("cks-");

    CustomKeyStoresListEntry created = describeStore(id);
    assertThat(created.customKeyStoreName()).isEqualTo("life");
    assertThat(created.cloudHsmClusterId()).isEqualTo(cluster.clusterId());
    assertThat(created.trustAnchorCertificate()).isEqualTo(cluster.trustAnchor().pem());
    assertThat(created.connectionState()).isEqualTo(ConnectionStateType.DISCONNECTED);
    assertThat(created.connectionErrorCode()).isNull();
    assertThat(created.customKeyStoreType()).isEqualTo(CustomKeyStoreType.AWS_CLOUDHSM);
    assertThat(created.creationDate()).isBetween(Instant.now().minus(Duration.ofMinutes(1)), Instant.now());
    assertThat(admin.describeCustomKeyStores(r -> r.limit(1))).satisfies(page -> {
      assertThat(page.customKeyStores()).hasSize(1);
      assertThat(page.truncated()).isTrue();
      assertThat(admin.describeCustomKeyStores(r -> r.marker(page.nextMarker())).customKeyStores()).isNotEmpty();
    });

    admin.updateCustomKeyStore(r -> r.customKeyStoreId(id).newCustomKeyStoreName("life-renamed"));
    assertThat(admin.describeCustomKeyStores(r -> r.customKeyStoreName("life-renamed")).customKeyStores())
        .singleElement().extracting(CustomKeyStoresListEntry::customKeyStoreId).isEqualTo(id);

    connect(id);
    expect(CustomKeyStoreInvalidStateException.class, () -> admin.deleteCustomKeyStore(r -> r.customKeyStoreId(id)));
    admin.disconnectCustomKeyStore(r -> r.customKeyStoreId(id));
    assertThat(describeStore(id).connectionState()).isEqualTo(ConnectionStateType.DISCONNECTED);
    admin.deleteCustomKeyStore(r -> r.customKeyStoreId(id));
    expect(CustomKeyStoreNotFoundException.class, () -> describeStore(id));

    // A store with a KMS key in it cannot be deleted. (The first store's cluster is free again, but
    // its kmsuser password is one only the deleted store knew, as connecting rotated it.)
    Cluster another = keyhold.spareClusters.get(1);
    String withKey = createStore("with-key", another);
    connect(withKey);
    KeyMetadata key = admin.createKey(r -> r.origin(OriginType.AWS_CLOUDHSM).customKeyStoreId(withKey)).keyMetadata();
    assertThat(key.origin()).isEqualTo(OriginType.AWS_CLOUDHSM);
    assertThat(key.customKeyStoreId()).isEqualTo(withKey);
    assertThat(key.cloudHsmClusterId()).isEqualTo(another.clusterId());
    admin.disconnectCustomKeyStore(r -> r.customKeyStoreId(withKey));
    assertThat(admin.describeKey(r -> r.keyId(key.keyId())).keyMetadata().keyState()).isEqualTo(KeyState.UNAVAILABLE);
    expect(CustomKeyStoreHasCmKsException.class, () -> admin.deleteCustomKeyStore(r -> r.customKeyStoreId(withKey)));
  }

  @Test
  void keyStoreErrors() {
    Cluster inUse = keyhold.spareClusters.get(0);
    expect(CustomKeyStoreNotFoundException.class,
        () -> admin.connectCustomKeyStore(r -> r.customKeyStoreId("cks-0123456789abcdef0")));
    expect(CustomKeyStoreInvalidStateException.class,
        () -> admin.updateCustomKeyStore(r -> r.customKeyStoreId(keyhold.storeId).keyStorePassword("another-one")));
    expect(IncorrectTrustAnchorException.class, () -> admin.createCustomKeyStore(r -> r.customKeyStoreName("wrong-ca")
        .cloudHsmClusterId(inUse.clusterId())
        .trustAnchorCertificate(describeStore(keyhold.storeId).trustAnchorCertificate())
        .keyStorePassword(keyhold.kmsuserPassword())));
    String defaultCluster = describeStore(keyhold.storeId).cloudHsmClusterId();
    expect(CloudHsmClusterInUseException.class, () -> admin.createCustomKeyStore(r -> r.customKeyStoreName("twice")
        .cloudHsmClusterId(defaultCluster)
        .trustAnchorCertificate(describeStore(keyhold.storeId).trustAnchorCertificate())
        .keyStorePassword(keyhold.kmsuserPassword())));
    assertThat(awsError(() -> admin.createCustomKeyStore(r -> r.customKeyStoreName("short")
        .cloudHsmClusterId(inUse.clusterId()).trustAnchorCertificate(inUse.trustAnchor().pem())
        .keyStorePassword("short"))))
        .isEqualTo("ValidationException: 1 validation error detected: Value at 'keyStorePassword' failed to "
            + "satisfy constraint: Member must have length greater than or equal to 7");
  }

  @Test
  void aKeysLifecycle() {
    CreateKeyResponse created = admin.createKey(r -> r.description("lifecycle").tags(tag("team", "blue")));
    KeyMetadata key = created.keyMetadata();
    assertThat(created.responseMetadata().requestId()).satisfies(UUID::fromString);
    assertThat(key.awsAccountId()).isEqualTo(TestKeyhold.ACCOUNT.accountId());
    assertThat(key.arn()).isEqualTo("arn:aws:kms:us-east-1:111122223333:key/" + key.keyId());
    assertThat(key.origin()).isEqualTo(OriginType.AWS_KMS);
    assertThat(key.customKeyStoreId()).isNull();
    assertThat(key.keyState()).isEqualTo(KeyState.ENABLED);
    assertThat(key.enabled()).isTrue();
    assertThat(key.description()).isEqualTo("lifecycle");
    assertThat(key.keySpecAsString()).isEqualTo("SYMMETRIC_DEFAULT");
    assertThat(key.keyUsageAsString()).isEqualTo("ENCRYPT_DECRYPT");
    assertThat(key.encryptionAlgorithms()).containsExactly(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT);
    assertThat(key.multiRegion()).isFalse();
    assertThat(key.creationDate()).isBetween(Instant.now().minus(Duration.ofMinutes(1)), Instant.now());
    assertThat(admin.describeKey(r -> r.keyId(key.arn())).keyMetadata()).isEqualTo(key);
    assertThat(admin.listKeys(r -> r.limit(1000)).keys()).anySatisfy(entry -> {
      assertThat(entry.keyId()).isEqualTo(key.keyId());
      assertThat(entry.keyArn()).isEqualTo(key.arn());
    });

    admin.updateKeyDescription(r -> r.keyId(key.keyId()).description("renamed"));
    assertThat(describe(key.keyId()).description()).isEqualTo("renamed");
    admin.disableKey(r -> r.keyId(key.keyId()));
    assertThat(describe(key.keyId()).keyState()).isEqualTo(KeyState.DISABLED);
    expect(DisabledException.class, () -> encrypt(key.keyId(), Map.of()));
    admin.enableKey(r -> r.keyId(key.keyId()));
    encrypt(key.keyId(), Map.of());

    assertThat(awsError(() -> admin.scheduleKeyDeletion(r -> r.keyId(key.keyId()).pendingWindowInDays(3))))
        .isEqualTo("ValidationException: PendingWindowInDays must be between 7 and 30");
    ScheduleKeyDeletionResponse scheduled = admin.scheduleKeyDeletion(r -> r.keyId(key.keyId()).pendingWindowInDays(7));
    assertThat(scheduled.keyId()).isEqualTo(key.arn());
    assertThat(scheduled.keyState()).isEqualTo(KeyState.PENDING_DELETION);
    assertThat(scheduled.pendingWindowInDays()).isEqualTo(7);
    assertThat(scheduled.deletionDate()).isBetween(Instant.now().plus(Duration.ofDays(7)).minus(Duration.ofMinutes(1)),
        Instant.now().plus(Duration.ofDays(7)));
    assertThat(describe(key.keyId()).deletionDate()).isEqualTo(scheduled.deletionDate());
    expect(KmsInvalidStateException.class, () -> encrypt(key.keyId(), Map.of()));
    assertThat(admin.cancelKeyDeletion(r -> r.keyId(key.keyId())).keyId()).isEqualTo(key.arn());
    assertThat(describe(key.keyId()).keyState()).isEqualTo(KeyState.DISABLED);

    expect(NotFoundException.class, () -> describe(UUID.randomUUID().toString()));
    assertThat(awsError(() -> describe("no-such-key"))).isEqualTo("NotFoundException: Invalid keyId 'no-such-key'");
  }

  @Test
  void rotationAndImportAreUnsupported() {
    String keyId = newKey();
    SdkBytes blob = SdkBytes.fromByteArray(new byte[32]);
    for (ThrowingCallable call : new ThrowingCallable[] {
        () -> admin.enableKeyRotation(r -> r.keyId(keyId)),
        () -> admin.disableKeyRotation(r -> r.keyId(keyId)),
        () -> admin.getKeyRotationStatus(r -> r.keyId(keyId)),
        () -> admin.getParametersForImport(r -> r.keyId(keyId).wrappingAlgorithm("RSAES_OAEP_SHA_256")
            .wrappingKeySpec("RSA_2048")),
        () -> admin.importKeyMaterial(r -> r.keyId(keyId).importToken(blob).encryptedKeyMaterial(blob))}) {
      expect(UnsupportedOperationException.class, call);
    }
  }

  @Test
  void aliases() {
    String first = newKey();
    String second = newKey();
    admin.createAlias(r -> r.aliasName("alias/api-test").targetKeyId(first));
    assertThat(describe("alias/api-test").keyId()).isEqualTo(first);
    assertThat(admin.listAliases(r -> r.keyId(first)).aliases()).singleElement().satisfies(alias -> {
      assertThat(alias.aliasName()).isEqualTo("alias/api-test");
      assertThat(alias.aliasArn()).isEqualTo("arn:aws:kms:us-east-1:111122223333:alias/api-test");
      assertThat(alias.targetKeyId()).isEqualTo(first);
      assertThat(alias.creationDate()).isNotNull();
      assertThat(alias.lastUpdatedDate()).isNotNull();
    });
    assertThat(admin.listAliases().aliases()).extracting(AliasListEntry::aliasName).contains("alias/api-test");
    expect(AlreadyExistsException.class,
        () -> admin.createAlias(r -> r.aliasName("alias/api-test").targetKeyId(second)));

    admin.updateAlias(r -> r.aliasName("alias/api-test").targetKeyId(second));
    assertThat(encrypt("arn:aws:kms:us-east-1:111122223333:alias/api-test", Map.of()).keyId()).endsWith(second);
    admin.deleteAlias(r -> r.aliasName("alias/api-test"));
    expect(NotFoundException.class, () -> describe("alias/api-test"));
    expect(NotFoundException.class, () -> admin.deleteAlias(r -> r.aliasName("alias/api-test")));
    expect(InvalidAliasNameException.class,
        () -> admin.createAlias(r -> r.aliasName("alias/aws/mine").targetKeyId(first)));
    assertThat(awsError(() -> admin.createAlias(r -> r.aliasName("no-prefix").targetKeyId(first))))
        .startsWith("ValidationException: Alias must start with the prefix \"alias/\".");
  }

  @Test
  void tags() {
    String keyId = newKey();
    admin.tagResource(r -> r.keyId(keyId).tags(tag("b", "2"), tag("a", "1")));
    assertThat(admin.listResourceTags(r -> r.keyId(keyId)).tags()).containsExactly(tag("a", "1"), tag("b", "2"));
    admin.untagResource(r -> r.keyId(keyId).tagKeys("a", "missing"));
    assertThat(admin.listResourceTags(r -> r.keyId(keyId)).tags()).containsExactly(tag("b", "2"));
    expect(TagException.class, () -> admin.tagResource(r -> r.keyId(keyId).tags(tag("aws:reserved", "x"))));
    assertThat(awsError(() -> admin.tagResource(r -> r.keyId(keyId).tags(tag("k".repeat(129), "x")))))
        .endsWith("at 'tags.1.member.tagKey' failed to satisfy constraint: "
            + "Member must have length less than or equal to 128");
  }

  @Test
  void keyPolicies() {
    String keyId = newKey();
    assertThat(admin.getKeyPolicy(r -> r.keyId(keyId).policyName("default")).policy())
        .contains("arn:aws:iam::111122223333:root").contains("kms:*");
    assertThat(admin.listKeyPolicies(r -> r.keyId(keyId)).policyNames()).containsExactly("default");
    String aliceAndRoot = policy("\"arn:aws:iam::111122223333:root\", \"arn:aws:iam::111122223333:user/alice\"");
    admin.putKeyPolicy(r -> r.keyId(keyId).policyName("default").policy(aliceAndRoot));
    assertThat(admin.getKeyPolicy(r -> r.keyId(keyId)).policy()).isEqualTo(aliceAndRoot);

    expect(MalformedPolicyDocumentException.class, () -> admin.putKeyPolicy(r -> r.keyId(keyId).policy("{not json")));
    String someoneElses = policy("\"arn:aws:iam::444455556666:root\"");
    assertThat(awsError(() -> admin.putKeyPolicy(r -> r.keyId(keyId).policy(someoneElses))))
        .isEqualTo("MalformedPolicyDocumentException: The new key policy will not allow you to update the key policy "
            + "in the future.");
    admin.putKeyPolicy(r -> r.keyId(keyId).policy(someoneElses).bypassPolicyLockoutSafetyCheck(true));
    assertThat(awsError(() -> admin.getKeyPolicy(r -> r.keyId(keyId)))).startsWith("AccessDeniedException: ");
    assertThat(awsError(() -> admin.createKey(r -> r.policy(someoneElses))))
        .startsWith("MalformedPolicyDocumentException");
  }

  @Test
  void encryptAndDecrypt() {
    String keyId = newKey();
    EncryptResponse encrypted = encrypt(keyId, CONTEXT);
    assertThat(encrypted.keyId()).isEqualTo(arn(keyId));
    assertThat(encrypted.encryptionAlgorithm()).isEqualTo(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT);

    SdkBytes blob = encrypted.ciphertextBlob();
    DecryptResponse decrypted = admin.decrypt(r -> r.ciphertextBlob(blob).encryptionContext(CONTEXT));
    assertThat(decrypted.plaintext()).isEqualTo(PLAINTEXT);
    assertThat(decrypted.keyId()).isEqualTo(arn(keyId));
    assertThat(decrypted.encryptionAlgorithm()).isEqualTo(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT);

    expect(InvalidCiphertextException.class,
        () -> admin.decrypt(r -> r.ciphertextBlob(blob).encryptionContext(Map.of("purpose", "x"))));
    expect(InvalidCiphertextException.class,
        () -> admin.decrypt(r -> r.ciphertextBlob(SdkBytes.fromUtf8String("not a ciphertext of any key"))));
    expect(IncorrectKeyException.class,
        () -> admin.decrypt(r -> r.ciphertextBlob(blob).encryptionContext(CONTEXT).keyId(newKey())));
    assertThat(awsError(() -> admin.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromByteArray(new byte[4097])))))
        .isEqualTo("ValidationException: 1 validation error detected: Value at 'plaintext' failed to satisfy "
            + "constraint: Member must have length less than or equal to 4096");
  }

  @Test
  void reEncrypt() {
    String source = newKey();
    String destination = newKey();
    SdkBytes blob = encrypt(source, CONTEXT).ciphertextBlob();
    Map<String, String> newContext = Map.of("purpose", "moved");

    ReEncryptResponse moved = admin.reEncrypt(r -> r.ciphertextBlob(blob).sourceEncryptionContext(CONTEXT)
        .destinationKeyId(destination).destinationEncryptionContext(newContext));

    assertThat(moved.sourceKeyId()).isEqualTo(arn(source));
    assertThat(moved.keyId()).isEqualTo(arn(destination));
    assertThat(moved.sourceEncryptionAlgorithm()).isEqualTo(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT);
    assertThat(moved.destinationEncryptionAlgorithm()).isEqualTo(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT);
    assertThat(moved.ciphertextBlob()).isNotEqualTo(blob);
    assertThat(admin.decrypt(r -> r.ciphertextBlob(moved.ciphertextBlob()).encryptionContext(newContext)).plaintext())
        .isEqualTo(PLAINTEXT);
    expect(InvalidCiphertextException.class,
        () -> admin.reEncrypt(r -> r.ciphertextBlob(blob).destinationKeyId(destination)));
    assertThat(awsError(() -> admin.reEncrypt(r -> r.ciphertextBlob(blob).sourceEncryptionContext(CONTEXT)
        .destinationKeyId(destination).destinationEncryptionAlgorithm(EncryptionAlgorithmSpec.RSAES_OAEP_SHA_256))))
        .isEqualTo("InvalidKeyUsageException: The encryption algorithm RSAES_OAEP_SHA_256 is not valid for a "
            + "symmetric KMS key.");
    expect(InvalidKeyUsageException.class, () -> admin.reEncrypt(r -> r.ciphertextBlob(blob)
        .sourceEncryptionContext(CONTEXT).destinationKeyId(destination)
        .sourceEncryptionAlgorithm(EncryptionAlgorithmSpec.RSAES_OAEP_SHA_1)));
  }

  @Test
  void dataKeysAndRandom() {
    String keyId = newKey();
    GenerateDataKeyResponse dataKey = admin.generateDataKey(r -> r.keyId(keyId).keySpec(DataKeySpec.AES_256)
        .encryptionContext(CONTEXT));
    assertThat(dataKey.plaintext().asByteArray()).hasSize(32);
    assertThat(dataKey.keyId()).isEqualTo(arn(keyId));
    assertThat(admin.decrypt(r -> r.ciphertextBlob(dataKey.ciphertextBlob()).encryptionContext(CONTEXT)).plaintext())
        .isEqualTo(dataKey.plaintext());

    GenerateDataKeyWithoutPlaintextResponse withoutPlaintext =
        admin.generateDataKeyWithoutPlaintext(r -> r.keyId(keyId).numberOfBytes(64));
    assertThat(withoutPlaintext.keyId()).isEqualTo(arn(keyId));
    assertThat(admin.decrypt(r -> r.ciphertextBlob(withoutPlaintext.ciphertextBlob())).plaintext().asByteArray())
        .hasSize(64);
    assertThat(awsError(() -> admin.generateDataKey(r -> r.keyId(keyId))))
        .isEqualTo("ValidationException: Please specify either number of bytes or key spec.");

    assertThat(admin.generateRandom(r -> r.numberOfBytes(24)).plaintext().asByteArray()).hasSize(24);
    assertThat(admin.generateRandom(r -> r.numberOfBytes(16).customKeyStoreId(keyhold.storeId)).plaintext()
        .asByteArray()).hasSize(16);
    assertThat(awsError(() -> admin.generateRandom(r -> r.numberOfBytes(1025))))
        .isEqualTo("ValidationException: 1 validation error detected: Value '1025' at 'numberOfBytes' failed to "
            + "satisfy constraint: Member must have value less than or equal to 1024");
  }

  @Test
  void everyAnswerIsToldToTheObserversWithNamesOnly() {
    String keyId = newKey();
    String requestId = encrypt(keyId, CONTEXT).responseMetadata().requestId();
    InvalidCiphertextException refused = catchThrowableOfType(InvalidCiphertextException.class,
        () -> admin.decrypt(r -> r.ciphertextBlob(SdkBytes.fromUtf8String("garbage")).encryptionContext(CONTEXT)));

    assertThat(outcome(requestId)).satisfies(outcome -> {
      assertThat(outcome.operation()).isEqualTo("Encrypt");
      assertThat(outcome.principalArn()).hasValue(keyhold.admin.principalArn());
      assertThat(outcome.keyArn()).hasValue(arn(keyId));
      assertThat(outcome.encryptionContextKeys()).containsExactly("purpose", "tenant");
      assertThat(outcome.httpStatus()).isEqualTo(200);
      assertThat(outcome.errorType()).isEmpty();
    });
    assertThat(outcome(refused.requestId())).satisfies(outcome -> {
      assertThat(outcome.operation()).isEqualTo("Decrypt");
      assertThat(outcome.keyArn()).isEmpty();
      assertThat(outcome.encryptionContextKeys()).containsExactly("purpose", "tenant");
      assertThat(outcome.errorType()).hasValue("InvalidCiphertextException");
    });
  }

  private static RequestOutcome outcome(String requestId) {
    return keyhold.outcomes.stream().filter(outcome -> outcome.requestId().equals(requestId)).findFirst().orElseThrow();
  }

  private static String createStore(String name, Cluster cluster) {
    return admin.createCustomKeyStore(r -> r.customKeyStoreName(name).cloudHsmClusterId(cluster.clusterId())
        .trustAnchorCertificate(cluster.trustAnchor().pem()).keyStorePassword(keyhold.kmsuserPassword()))
        .customKeyStoreId();
  }

  private static CustomKeyStoresListEntry describeStore(String id) {
    return admin.describeCustomKeyStores(r -> r.customKeyStoreId(id)).customKeyStores().get(0);
  }

  private static void connect(String id) throws InterruptedException {
    admin.connectCustomKeyStore(r -> r.customKeyStoreId(id));
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (describeStore(id).connectionState() == ConnectionStateType.CONNECTING && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(describeStore(id).connectionState()).isEqualTo(ConnectionStateType.CONNECTED);
  }

  private static String newKey() {
    return admin.createKey(r -> r.description("test")).keyMetadata().keyId();
  }

  private static KeyMetadata describe(String keyId) {
    return admin.describeKey(r -> r.keyId(keyId)).keyMetadata();
  }

  private static EncryptResponse encrypt(String keyId, Map<String, String> context) {
    return admin.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT).encryptionContext(context));
  }

  private static String arn(String keyId) {
    return "arn:aws:kms:us-east-1:111122223333:key/" + keyId;
  }

  private static Tag tag(String key, String value) {
    return Tag.builder().tagKey(key).tagValue(value).build();
  }

  /** A policy that lets {@code principals} do everything with the key. */
  private static String policy(String principals) {
    return ("{'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'AWS': [" + principals
        + "]}, 'Action': 'kms:*', 'Resource': '*'}]}").replace('\'', '"');
  }

  /** The SDK's typed exception {@code type}, with a request id, HTTP 400 and its name as error code. */
  private static void expect(Class<? extends KmsException> type, ThrowingCallable call) {
    KmsException e = catchThrowableOfType(type, call);
    assertThat(e).as("%s", type.getSimpleName()).isNotNull();
    assertThat(e.statusCode()).isEqualTo(400);
    assertThat(e.requestId()).satisfies(UUID::fromString);
    assertThat(type.getSimpleName()).isEqualToIgnoringCase(e.awsErrorDetails().errorCode());
  }

  /** {@code __type: message} of the AWS error {@code call} fails with. */
  private static String awsError(ThrowingCallable call) {
    KmsException e = catchThrowableOfType(KmsException.class, call);
    assertThat(e).isNotNull();
    assertThat(e.statusCode()).isEqualTo(400);
    return e.awsErrorDetails().errorCode() + ": " + e.awsErrorDetails().errorMessage();
  }
}
