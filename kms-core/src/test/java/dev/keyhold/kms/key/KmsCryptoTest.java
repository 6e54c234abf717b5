package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Encrypt, Decrypt and GenerateDataKey inside the HSM, with the ciphertext format's bindings. */
class KmsCryptoTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final byte[] PLAINTEXT = "a secret worth an HSM".getBytes(StandardCharsets.UTF_8);
  private static final Map<String, String> CONTEXT = Map.of("purpose", "test", "tenant", "blue");

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private CustomKeyStores keyStores;
  private KmsKeys keys;
  private KmsCrypto crypto;
  private String storeId;
  private KeyMetadata key;
  private KeyMetadata otherKey;

  @BeforeEach
  void createKeys() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    keyStores = fixture.open();
    keys = fixture.kmsKeys(Clock.systemUTC());
    crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    storeId = fixture.connectedStore("crypto", cluster);
    key = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "one"));
    otherKey = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "two"));
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void roundTripsWithTheContextInAnyOrder() {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, CONTEXT);
    Map<String, String> reordered = new LinkedHashMap<>();
    reordered.put("tenant", "blue");
    reordered.put("purpose", "test");

    assertThat(crypto.decrypt(new DecryptRequest(blob, reordered, null, null)).plaintext()).isEqualTo(PLAINTEXT);
    assertThat(crypto.decrypt(new DecryptRequest(blob, CONTEXT, key.arn(), "SYMMETRIC_DEFAULT")).keyId())
        .isEqualTo(key.arn());
    assertThat(crypto.encrypt(new EncryptRequest(key.arn(), PLAINTEXT, null, null)).keyId()).isEqualTo(key.arn());
  }

  @Test
  void theBlobNamesItsKeyAndStoreInItsHeader() {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, null);
    ByteBuffer header = ByteBuffer.wrap(blob);
    assertThat(header.get()).isEqualTo((byte) 1);
    assertThat(new UUID(header.getLong(), header.getLong()).toString()).isEqualTo(key.keyId());
    int storeLength = header.get();
    assertThat(new String(blob, 18, storeLength, StandardCharsets.US_ASCII)).isEqualTo(storeId);
    assertThat(blob).hasSize(18 + storeLength + 12 + PLAINTEXT.length + 16);
  }

  @Test
  void aWrongContextOrAnyTamperingIsInvalidCiphertextWithAnEmptyMessage() {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, CONTEXT);
    assertInvalid(blob, Map.of("purpose", "test", "tenant", "red"));
    assertInvalid(blob, Map.of("purpose", "test"));
    assertInvalid(blob, null);
    for (int index : new int[] {20, blob.length - 20, blob.length - 1}) {
      byte[] tampered = blob.clone();
      tampered[index] ^= 1;
      assertInvalid(tampered, CONTEXT);
    }
    byte[] movedToOtherKey = blob.clone();
    System.arraycopy(encrypt(otherKey.keyId(), PLAINTEXT, CONTEXT), 1, movedToOtherKey, 1, 16);
    assertInvalid(movedToOtherKey, CONTEXT);
    assertInvalid(Arrays.copyOf(blob, 30), CONTEXT);
    assertInvalid(new byte[] {9, 9, 9}, CONTEXT);
  }

  @Test
  void everyFlippedByteAndEveryTruncationFailsAndNeverYieldsAPlaintext() {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, CONTEXT);
    for (int index = 0; index < blob.length; index++) {
      for (byte bit : new byte[] {0x01, (byte) 0x80}) {
        byte[] tampered = blob.clone();
        tampered[index] ^= bit;
        assertInvalid(tampered, CONTEXT);
      }
    }
    for (int length = 1; length < blob.length; length++) {
      assertInvalid(Arrays.copyOf(blob, length), CONTEXT);
    }
    byte[] context = blob.clone();
    assertInvalid(context, Map.of("Purpose", "test", "tenant", "blue"));
    assertInvalid(context, Map.of("purpose", "test ", "tenant", "blue"));
  }

  @Test
  void aBlobFromAnotherKeyStoreIsInvalidCiphertext() throws Exception {
    Cluster otherCluster = fixture.newCluster(2);
    keyStores = fixture.open();
    KmsKeys keys = new KmsKeys(fixture.metadata, fixture.registry, keyStores, fixture.connections,
        new Account("111122223333", "us-east-1"), Clock.systemUTC());
    crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    String otherStore = keyStores.createCustomKeyStore(fixture.createRequest("other", otherCluster));
    keyStores.connectCustomKeyStore(otherStore);
    keyStores.connectCustomKeyStore(storeId);
    assertThat(fixture.awaitSettled(otherStore).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(fixture.awaitSettled(storeId).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    KeyMetadata foreign = keys.createKey(CreateKeyRequest.inCustomKeyStore(otherStore, null));
    byte[] blob = encrypt(foreign.keyId(), PLAINTEXT, null);
    // The same key id, but claiming this store: the header no longer matches.
    byte[] header = java.nio.ByteBuffer.allocate(18 + storeId.length()).put((byte) 1).put(blob, 1, 16)
        .put((byte) storeId.length()).put(storeId.getBytes(StandardCharsets.US_ASCII)).array();
    byte[] moved = Arrays.copyOf(header, header.length + blob.length - header.length);
    System.arraycopy(blob, header.length, moved, header.length, blob.length - header.length);
    assertInvalid(moved, null);
    assertThat(crypto.decrypt(new DecryptRequest(blob, null, null, null)).plaintext()).isEqualTo(PLAINTEXT);
  }

  @Test
  void aKeyIdThatIsNotTheBlobsIsIncorrectKey() {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, null);
    assertThat(error(() -> crypto.decrypt(new DecryptRequest(blob, null, otherKey.keyId(), null))))
        .hasMessage("The key ID in the request does not identify a CMK that can perform this operation.")
        .extracting(e -> e.type()).isEqualTo(KmsErrorType.IncorrectKeyException);
  }

  @Test
  void generatesDataKeysInTheHsm() {
    GenerateDataKeyResponse aes256 = crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), CONTEXT, "AES_256", null));
    byte[] dataKey = aes256.plaintext().orElseThrow();
    assertThat(dataKey).hasSize(32);
    assertThat(crypto.decrypt(new DecryptRequest(aes256.ciphertextBlob(), CONTEXT, null, null)).plaintext())
        .isEqualTo(dataKey);
    assertThat(aes256.toString()).doesNotContain(Arrays.toString(dataKey));
    assertThat(crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), null, "AES_128", null)).plaintext()
        .orElseThrow()).hasSize(16);
    assertThat(crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), null, null, 64)).plaintext()
        .orElseThrow()).hasSize(64);
    GenerateDataKeyResponse hidden = crypto.generateDataKeyWithoutPlaintext(keys.resolver().resolve(key.keyId()),
        new GenerateDataKeyRequest(key.keyId(), null, "AES_256", null));
    assertThat(hidden.plaintext()).isEmpty();
    assertThat(crypto.decrypt(new DecryptRequest(hidden.ciphertextBlob(), null, null, null)).plaintext()).hasSize(32);

    assertThat(error(() -> crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), null, "AES_256", 32))))
        .hasMessage("Please specify either number of bytes or key spec.");
    assertThat(error(() -> crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), null, null, null))))
        .hasMessage("Please specify either number of bytes or key spec.");
    assertThat(error(() -> crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), null, null, 1025))))
        .hasMessage("1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
            + "Member must have value less than or equal to 1024");
  }

  @Test
  void badInputGetsAwsMessages() {
    assertThat(error(() -> encrypt(key.keyId(), new byte[4097], null)))
        .hasMessage("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
            + "Member must have length less than or equal to 4096");
    assertError(() -> encrypt(key.keyId(), new byte[0], null), KmsErrorType.ValidationException);
    assertError(() -> crypto.encrypt(new EncryptRequest(key.keyId(), PLAINTEXT, null, "RSAES_OAEP_SHA_256")),
        KmsErrorType.InvalidKeyUsageException);
    assertThat(error(() -> encrypt("not-a-key", PLAINTEXT, null))).hasMessage("Invalid keyId 'not-a-key'");
    assertError(() -> crypto.decrypt(new DecryptRequest(new byte[6145], null, null, null)),
        KmsErrorType.ValidationException);
  }

  @Test
  void keysOfADisconnectedStoreAreUnavailableUntilItReconnects() throws Exception {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, null);
    keyStores.disconnectCustomKeyStore(storeId);
    assertThat(error(() -> encrypt(key.keyId(), PLAINTEXT, null)))
        .hasMessage(key.arn() + " is unavailable.")
        .extracting(e -> e.type()).isEqualTo(KmsErrorType.KMSInvalidStateException);

    keyStores.connectCustomKeyStore(storeId);
    assertThat(fixture.awaitSettled(storeId).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(crypto.decrypt(new DecryptRequest(blob, null, null, null)).plaintext()).isEqualTo(PLAINTEXT);
  }

  @Test
  void reEncryptsUnderAnotherKeyAndContext() {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, CONTEXT);
    ReEncryptResponse moved = crypto.reEncrypt(
        new ReEncryptRequest(blob, CONTEXT, null, otherKey.arn(), Map.of("purpose", "archive")));
    assertThat(moved.sourceKeyId()).isEqualTo(key.arn());
    assertThat(moved.keyId()).isEqualTo(otherKey.arn());
    assertThat(crypto.decrypt(new DecryptRequest(moved.ciphertextBlob(), Map.of("purpose", "archive"), null, null))
        .plaintext()).isEqualTo(PLAINTEXT);
    assertInvalid(moved.ciphertextBlob(), CONTEXT);
    assertError(() -> crypto.reEncrypt(new ReEncryptRequest(blob, null, null, otherKey.arn(), null)),
        KmsErrorType.InvalidCiphertextException);
  }

  /**
   * A dry run checks what the run would check before it reaches an HSM, and goes no further: a blob the
   * HSM would refuse (the wrong context) passes, as only the HSM can tell; nothing checked before fails.
   * Every key state is KeyStateMatrixTest's.
   */
  @Test
  void aDryRunChecksTheRequestAndTheKeyButCallsNoHsm() {
    byte[] blob = encrypt(key.keyId(), PLAINTEXT, CONTEXT);
    String dryRun = "The request would have succeeded, but the DryRun option is set.";
    ResolvedKey resolved = keys.resolver().resolve(key.keyId());
    for (ThrowingCallable call : List.<ThrowingCallable>of(
        () -> crypto.encrypt(new EncryptRequest(key.keyId(), PLAINTEXT, CONTEXT, null, true)),
        () -> crypto.decrypt(new DecryptRequest(blob, CONTEXT, null, null, true, null)),
        () -> crypto.decrypt(new DecryptRequest(blob, Map.of("purpose", "wrong"), null, null, true, null)),
        () -> crypto.decrypt(new DecryptRequest(null, null, key.arn(), null, true, List.of("IGNORE_CIPHERTEXT"))),
        () -> crypto.reEncrypt(new ReEncryptRequest(blob, CONTEXT, null, otherKey.arn(), null, null, null, true, null)),
        () -> crypto.reEncrypt(new ReEncryptRequest(null, null, key.keyId(), otherKey.arn(), null, null, null, true,
            List.of("IGNORE_CIPHERTEXT"))),
        () -> crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), CONTEXT, "AES_128", null, true)),
        () -> crypto.generateDataKeyWithoutPlaintext(resolved, new GenerateDataKeyRequest(key.keyId(), null, null, 64,
            true)))) {
      assertThat(error(call)).hasMessage(dryRun).extracting(e -> e.type()).isEqualTo(KmsErrorType.DryRunOperationException);
    }

    assertError(() -> crypto.encrypt(new EncryptRequest(key.keyId(), new byte[4097], null, null, true)),
        KmsErrorType.ValidationException);
    assertError(() -> crypto.encrypt(new EncryptRequest(key.keyId(), PLAINTEXT, null, "RSAES_OAEP_SHA_1", true)),
        KmsErrorType.InvalidKeyUsageException);
    assertError(() -> crypto.decrypt(new DecryptRequest(new byte[] {1, 2, 3}, null, null, null, true, null)),
        KmsErrorType.InvalidCiphertextException);
    assertError(() -> crypto.decrypt(new DecryptRequest(blob, CONTEXT, otherKey.keyId(), null, true, null)),
        KmsErrorType.IncorrectKeyException);
    assertError(() -> crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), null, null, null, true)),
        KmsErrorType.ValidationException);
    assertThat(error(() -> crypto.decrypt(new DecryptRequest(null, null, null, null, true,
        List.of("IGNORE_CIPHERTEXT"))))).as("the key a dry run that ignores the ciphertext checks")
        .hasMessage("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
            + "Member must not be null");
    assertThat(error(() -> crypto.reEncrypt(new ReEncryptRequest(null, null, null, otherKey.arn(), null, null, null,
        true, List.of("IGNORE_CIPHERTEXT"))))).hasMessageContaining("'sourceKeyId'");
    assertThat(error(() -> crypto.decrypt(new DecryptRequest(blob, CONTEXT, null, null, true, List.of("IGNORE_TAG")))))
        .hasMessage("1 validation error detected: Value 'IGNORE_TAG' at 'dryRunModifiers.1.member' failed to satisfy "
            + "constraint: Member must satisfy enum value set: [IGNORE_CIPHERTEXT]");
    assertThat(crypto.decrypt(new DecryptRequest(blob, CONTEXT, null, null, false, List.of("IGNORE_CIPHERTEXT")))
        .plaintext()).as("modifiers without DryRun change nothing").isEqualTo(PLAINTEXT);
  }

  @Test
  void generatesRandomBytesInTheStoresHsmsOrHere() throws Exception {
    assertThat(crypto.generateRandom(32, storeId)).hasSize(32);
    assertThat(crypto.generateRandom(1024, null)).hasSize(1024);
    assertThat(error(() -> crypto.generateRandom(null, null))).hasMessage("NumberOfBytes is required.");
    assertError(() -> crypto.generateRandom(1025, storeId), KmsErrorType.ValidationException);
    assertError(() -> crypto.generateRandom(8, "cks-00000000000000000"), KmsErrorType.CustomKeyStoreNotFoundException);
    keyStores.disconnectCustomKeyStore(storeId);
    assertError(() -> crypto.generateRandom(8, storeId), KmsErrorType.CustomKeyStoreInvalidStateException);
  }

  private byte[] encrypt(String keyId, byte[] plaintext, Map<String, String> context) {
    return crypto.encrypt(new EncryptRequest(keyId, plaintext, context, null)).ciphertextBlob();
  }

  private void assertInvalid(byte[] blob, Map<String, String> context) {
    assertThat(error(() -> crypto.decrypt(new DecryptRequest(blob, context, null, null))))
        .hasMessage("")
        .extracting(e -> e.type()).isEqualTo(KmsErrorType.InvalidCiphertextException);
  }
}
