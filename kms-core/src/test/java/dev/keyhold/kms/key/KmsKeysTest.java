package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** CreateKey, DescribeKey and ListKeys on keys in a connected CloudHSM key store. */
class KmsKeysTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final Account ACCOUNT = new Account("111122223333", "us-east-1");

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private CustomKeyStores keyStores;
  private KmsKeys keys;
  private String storeId;

  @BeforeEach
  void connectAStore() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    keyStores = fixture.open();
    keys = fixture.kmsKeys(Clock.systemUTC());
    storeId = fixture.connectedStore("keys", cluster);
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void createsANonExtractableAes256KeyLabelledWithItsArn() {
    KeyMetadata key = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "example key"));

    assertThat(key.keyId()).matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    assertThat(key.arn()).isEqualTo("arn:aws:kms:us-east-1:111122223333:key/" + key.keyId());
    assertThat(key.keyState()).isEqualTo(KeyState.Enabled);
    assertThat(key.enabled()).isTrue();
    assertThat(key.origin()).isEqualTo(Origin.AWS_CLOUDHSM);
    assertThat(key.customKeyStoreId()).contains(storeId);
    assertThat(key.cloudHsmClusterId()).contains(fixture.describe(storeId).cloudHsmClusterId());
    assertThat(key.keySpec()).isEqualTo(KeySpec.SYMMETRIC_DEFAULT);
    assertThat(key.encryptionAlgorithms()).containsExactly("SYMMETRIC_DEFAULT");
    assertThat(key.description()).isEqualTo("example key");
    assertThat(keys.describeKey(key.arn())).isEqualTo(keys.describeKey(key.keyId())).isEqualTo(key);

    List<AesKey> material = new ArrayList<>();
    for (Token token : fixture.connections.connected(storeId).orElseThrow().tokens().values()) {
      token.findAesKey(key.arn()).ifPresent(material::add);
    }
    assertThat(material).as("the material sits in the cluster, labelled with the ARN").isNotEmpty();
    assertThat(material.get(0).label()).isEqualTo(key.arn());
  }

  @Test
  void keysOfADisconnectedStoreAreUnavailableAndTheStoreCannotBeDeleted() {
    KeyMetadata key = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, null));
    keyStores.disconnectCustomKeyStore(storeId);

    KeyMetadata described = keys.describeKey(key.keyId());
    assertThat(described.keyState()).isEqualTo(KeyState.Unavailable);
    assertThat(described.enabled()).isFalse();
    assertError(() -> keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, null)),
        KmsErrorType.CustomKeyStoreInvalidStateException);
    assertThat(error(() -> keyStores.deleteCustomKeyStore(storeId)).type())
        .isEqualTo(KmsErrorType.CustomKeyStoreHasCMKsException);
  }

  @Test
  void refusesWhatACloudHsmKeyStoreCannotHold() {
    assertError(() -> keys.createKey(new CreateKeyRequest(null, null, "RSA_2048", "AWS_CLOUDHSM", storeId, null)),
        KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.createKey(new CreateKeyRequest(null, "SIGN_VERIFY", null, "AWS_CLOUDHSM", storeId, null)),
        KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.createKey(new CreateKeyRequest(null, null, null, "AWS_CLOUDHSM", storeId, true)),
        KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.createKey(new CreateKeyRequest(null, null, null, null, storeId, null)),
        KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.createKey(new CreateKeyRequest(null, null, null, null, null, null)),
        KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.createKey(CreateKeyRequest.inCustomKeyStore("cks-00000000000000000", null)),
        KmsErrorType.CustomKeyStoreNotFoundException);
    assertError(() -> keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "x".repeat(8193))),
        KmsErrorType.ValidationException);
  }

  @Test
  void aKeyWithoutAStoreGoesToTheDefaultStoreAndLooksLikeAnAwsKmsKey() {
    KmsKeys withDefault = new KmsKeys(fixture.metadata, fixture.registry, keyStores, fixture.connections, ACCOUNT,
        Clock.systemUTC(), java.util.Optional.of("keys"), ServiceNode.LOCAL, Checkpoints.NONE);
    KeyMetadata key = withDefault.createKey(new CreateKeyRequest("plain", null, null, null, null, null));
    assertThat(key.origin()).isEqualTo(Origin.AWS_KMS);
    assertThat(key.customKeyStoreId()).isEmpty();
    assertThat(key.cloudHsmClusterId()).isEmpty();
    assertThat(key.keyState()).isEqualTo(KeyState.Enabled);
  }

  @Test
  void aCreateKeyThatACrashInterruptedIsRolledBackWhenTheStoreConnects() throws Exception {
    String keyId = java.util.UUID.randomUUID().toString();
    String arn = "arn:aws:kms:us-east-1:111122223333:key/" + keyId;
    // The state a crash between generating the material and recording the key leaves behind.
    fixture.metadata.inTransaction(c -> {
      try (java.sql.Statement statement = c.createStatement()) {
        return statement.executeUpdate("INSERT INTO kms_keys (key_id, arn, key_store_id, cluster_id, description, "
            + "key_state, creation_date, origin) VALUES ('" + keyId + "', '" + arn + "', '" + storeId + "', '"
            + fixture.describe(storeId).cloudHsmClusterId() + "', '', 'Creating', 0, 'AWS_CLOUDHSM')");
      }
    });
    Token first = fixture.connections.connected(storeId).orElseThrow().tokens().values().iterator().next();
    java.nio.ByteBuffer id = java.nio.ByteBuffer.allocate(16);
    java.util.UUID uuid = java.util.UUID.fromString(keyId);
    id.putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits());
    first.generateAesKey(dev.keyhold.pkcs11.AesKeyTemplate.builder(AesKey.of(arn, id.array())).build());
    assertError(() -> keys.describeKey(keyId), KmsErrorType.NotFoundException);

    keyStores.disconnectCustomKeyStore(storeId);
    keyStores.connectCustomKeyStore(storeId);
    assertThat(fixture.awaitSettled(storeId).connectionState()).isEqualTo(ConnectionState.CONNECTED);

    for (Token token : fixture.connections.connected(storeId).orElseThrow().tokens().values()) {
      assertThat(token.findAesKey(arn)).as("no orphan on %s", token.label()).isEmpty();
    }
    assertThat(keys.listKeys(null, null).keys()).noneMatch(entry -> entry.keyId().equals(keyId));
    keyStores.disconnectCustomKeyStore(storeId);
    keyStores.deleteCustomKeyStore(storeId);
  }

  @Test
  void describeNamesWhatItCannotFindAsAwsDoes() {
    assertThat(error(() -> keys.describeKey("fake-key-id"))).hasMessage("Invalid keyId 'fake-key-id'");
    String absent = "0000aaaa-1111-2222-3333-444455556666";
    assertThat(error(() -> keys.describeKey(absent)))
        .hasMessage("Key 'arn:aws:kms:us-east-1:111122223333:key/" + absent + "' does not exist");
    assertThat(error(() -> keys.describeKey("arn:aws:kms:eu-west-1:111122223333:key/" + absent)).type())
        .isEqualTo(KmsErrorType.NotFoundException);
  }

  @Test
  void listsKeysPageByPage() {
    List<String> created = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      created.add(keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "key " + i)).keyId());
    }
    ListKeysResponse first = keys.listKeys(2, null);
    ListKeysResponse second = keys.listKeys(2, first.nextMarker().orElseThrow());
    assertThat(first.truncated()).isTrue();
    assertThat(second.truncated()).isFalse();
    List<String> listed = new ArrayList<>();
    first.keys().forEach(entry -> listed.add(entry.keyId()));
    second.keys().forEach(entry -> listed.add(entry.keyId()));
    assertThat(listed).containsExactlyInAnyOrderElementsOf(created);
    assertError(() -> keys.listKeys(null, "not-a-marker"), KmsErrorType.InvalidMarkerException);
    assertError(() -> keys.listKeys(1001, null), KmsErrorType.ValidationException);
  }
}
