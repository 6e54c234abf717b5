package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A key deleted by another node, while this node still holds it in its cache (and its AES-GCM
 * handles), answers NotFoundException to every operation here, as a key that never existed would
 * (InvalidCiphertextException for Decrypt), never an internal error: the database is the one source of
 * truth, and this node forgets the key as soon as it learns.
 */
class KeyGoneBehindTheCacheTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private String storeId;
  /** The node that holds the key in its cache. */
  private KmsKeys here;

  @BeforeEach
  void aConnectedStore() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    fixture.open();
    storeId = fixture.connectedStore("gone", cluster);
    here = fixture.kmsKeys(Clock.systemUTC());
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void everyOperationOnAKeyDeletedByAnotherNodeAnswersNotFound() throws Exception {
    KmsCrypto crypto = new KmsCrypto(here, fixture.keyStores, fixture.connections);
    String keyId = here.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "deleted elsewhere")).keyId();
    byte[] blob = crypto.encrypt(new EncryptRequest(keyId, new byte[] {9}, null, null)).ciphertextBlob();
    here.policies().getKeyPolicy(keyId, null);

    fixture.kmsKeys(Clock.systemUTC()).deletions().scheduleKeyDeletion(keyId, 7);
    KmsKeys eightDaysLater = fixture.kmsKeys(Clock.offset(Clock.systemUTC(), Duration.ofDays(8)));
    assertThat(eightDaysLater.deletions().deleteDueKeys()).hasSize(1);

    assertError(() -> crypto.encrypt(new EncryptRequest(keyId, new byte[] {9}, null, null)),
        KmsErrorType.NotFoundException);
    assertError(() -> crypto.decrypt(new DecryptRequest(blob, null, null, null)),
        KmsErrorType.InvalidCiphertextException);
    assertError(() -> crypto.generateDataKey(new GenerateDataKeyRequest(keyId, null, "AES_256", null)),
        KmsErrorType.NotFoundException);
    assertError(() -> here.describeKey(keyId), KmsErrorType.NotFoundException);
    assertError(() -> here.policies().getKeyPolicy(keyId, null), KmsErrorType.NotFoundException);
    assertError(() -> here.policies().putKeyPolicy(keyId, null, "{\"Statement\":[{\"Effect\":\"Allow\","
        + "\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"), KmsErrorType.NotFoundException);
    assertError(() -> here.enableKey(keyId), KmsErrorType.NotFoundException);
    assertError(() -> here.deletions().cancelKeyDeletion(keyId), KmsErrorType.NotFoundException);
    assertError(() -> here.tags().tagResource(keyId, List.of(new Tag("k", "v"))), KmsErrorType.NotFoundException);
    assertError(() -> here.aliases().createAlias("alias/gone", keyId), KmsErrorType.NotFoundException);
    assertThat(here.listKeys(null, null).keys()).isEmpty();
  }

  @Test
  void aChangeMadeByAnotherNodeIsWhatDescribeKeyAndTheNextChangeSee() {
    String keyId = here.createKey(CreateKeyRequest.inCustomKeyStore(storeId, null)).keyId();
    here.describeKey(keyId);

    fixture.kmsKeys(Clock.systemUTC()).deletions().scheduleKeyDeletion(keyId, 7);

    assertThat(here.describeKey(keyId).keyState()).isEqualTo(KeyState.PendingDeletion);
    assertError(() -> here.disableKey(keyId), KmsErrorType.KMSInvalidStateException);
    assertError(() -> here.tags().tagResource(keyId, List.of(new Tag("k", "v"))),
        KmsErrorType.KMSInvalidStateException);
    assertThat(here.deletions().cancelKeyDeletion(keyId)).endsWith(keyId);
  }
}
