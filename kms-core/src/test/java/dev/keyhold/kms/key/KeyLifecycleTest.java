package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Enable, Disable, UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion and the deletion itself. */
class KeyLifecycleTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;
  private final TestClock clock = new TestClock(Instant.parse("2026-11-28T12:00:00Z"));
  private KeyStoreFixture fixture;
  private CustomKeyStores keyStores;
  private KmsKeys keys;
  private KmsCrypto crypto;
  private String storeId;
  private KeyMetadata key;

  @BeforeEach
  void createKey() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    keyStores = fixture.open();
    keys = fixture.kmsKeys(clock);
    crypto = new KmsCrypto(keys, fixture.keyStores, fixture.connections);
    storeId = fixture.connectedStore("lifecycle", cluster);
    key = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "before"));
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void disableStopsCryptoAndEnableRestoresIt() {
    keys.disableKey(key.keyId());
    assertThat(keys.describeKey(key.keyId()).keyState()).isEqualTo(KeyState.Disabled);
    assertThat(keys.describeKey(key.keyId()).enabled()).isFalse();
    assertThat(error(() -> encrypt())).hasMessage(key.arn() + " is disabled.")
        .extracting(e -> e.type()).isEqualTo(KmsErrorType.DisabledException);
    keys.enableKey(key.arn());
    assertThat(encrypt()).isNotEmpty();
    keys.updateKeyDescription(key.keyId(), "after");
    assertThat(keys.describeKey(key.keyId()).description()).isEqualTo("after");
  }

  @Test
  void scheduleAndCancelFollowTheStateRules() {
    ScheduleKeyDeletionResponse scheduled = keys.deletions().scheduleKeyDeletion(key.keyId(), null);
    assertThat(scheduled.pendingWindowInDays()).isEqualTo(30);
    assertThat(scheduled.deletionDate()).isEqualTo(clock.instant().plus(Duration.ofDays(30)));
    KeyMetadata pending = keys.describeKey(key.keyId());
    assertThat(pending.keyState()).isEqualTo(KeyState.PendingDeletion);
    assertThat(pending.deletionDate()).contains(scheduled.deletionDate());

    assertThat(error(() -> encrypt())).hasMessage(key.arn() + " is pending deletion.");
    assertThat(error(() -> keys.enableKey(key.keyId()))).hasMessage(key.arn() + " is pending deletion.");
    assertError(() -> keys.deletions().scheduleKeyDeletion(key.keyId(), 7), KmsErrorType.KMSInvalidStateException);
    assertError(() -> keys.updateKeyDescription(key.keyId(), "x"), KmsErrorType.KMSInvalidStateException);

    assertThat(keys.deletions().cancelKeyDeletion(key.keyId())).isEqualTo(key.arn());
    assertThat(keys.describeKey(key.keyId()).keyState()).isEqualTo(KeyState.Disabled);
    assertThat(keys.describeKey(key.keyId()).deletionDate()).isEmpty();
    assertThat(error(() -> keys.deletions().cancelKeyDeletion(key.keyId()))).hasMessage(key.arn() + " is not pending deletion.");
    for (int days : new int[] {6, 31}) {
      assertThat(error(() -> keys.deletions().scheduleKeyDeletion(key.keyId(), days)))
          .hasMessage("PendingWindowInDays must be between 7 and 30");
    }
  }

  @Test
  void whenTheWindowEndsTheKeyAndItsMaterialGo() {
    keys.deletions().scheduleKeyDeletion(key.keyId(), 7);
    clock.advance(Duration.ofDays(7).minusSeconds(1));
    assertThat(keys.deletions().deleteDueKeys()).isEmpty();
    clock.advance(Duration.ofSeconds(1));

    assertThat(keys.deletions().deleteDueKeys()).containsExactly(key.arn());

    assertError(() -> keys.describeKey(key.keyId()), KmsErrorType.NotFoundException);
    for (Token token : fixture.connections.connected(storeId).orElseThrow().tokens().values()) {
      assertThat(token.findAesKey(key.arn())).as("material on %s", token.label()).isEmpty();
    }
    assertThat(materialDeletionStatuses()).contains("SUCCESS").doesNotContain("FAILURE");
    keyStores.disconnectCustomKeyStore(storeId);
    keyStores.deleteCustomKeyStore(storeId);
  }

  @Test
  void aDisconnectedStoresKeysAreUnavailableChangesAreDeferredAndDeletionWins() throws Exception {
    keyStores.disconnectCustomKeyStore(storeId);
    assertThat(keys.describeKey(key.keyId()).keyState()).isEqualTo(KeyState.Unavailable);
    keys.disableKey(key.keyId());
    assertThat(keys.describeKey(key.keyId()).keyState()).as("deferred").isEqualTo(KeyState.Unavailable);
    connect();
    assertThat(keys.describeKey(key.keyId()).keyState()).isEqualTo(KeyState.Disabled);

    keyStores.disconnectCustomKeyStore(storeId);
    keys.deletions().scheduleKeyDeletion(key.keyId(), 7);
    assertThat(keys.describeKey(key.keyId()).keyState()).isEqualTo(KeyState.PendingDeletion);
    clock.advance(Duration.ofDays(8));
    assertThat(keys.deletions().deleteDueKeys()).containsExactly(key.arn());
    assertThat(materialDeletionStatuses()).as("best effort: the store was disconnected").containsOnly("FAILURE");
  }

  @Test
  void rotationAndImportAreUnsupported() {
    assertError(() -> keys.enableKeyRotation(key.keyId()), KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.disableKeyRotation(key.keyId()), KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.getKeyRotationStatus(key.keyId()), KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.getParametersForImport(key.keyId()), KmsErrorType.UnsupportedOperationException);
    assertError(() -> keys.importKeyMaterial(key.keyId()), KmsErrorType.UnsupportedOperationException);
  }

  private byte[] encrypt() {
    return crypto.encrypt(new EncryptRequest(key.keyId(), new byte[] {1, 2, 3}, null, null)).ciphertextBlob();
  }

  private void connect() throws InterruptedException {
    keyStores.connectCustomKeyStore(storeId);
    assertThat(fixture.awaitSettled(storeId).connectionState()).isEqualTo(ConnectionState.CONNECTED);
  }

  private List<String> materialDeletionStatuses() {
    return fixture.metadata.inTransaction(c -> {
      List<String> statuses = new ArrayList<>();
      try (Statement statement = c.createStatement();
          ResultSet rows = statement.executeQuery("SELECT status FROM key_material_deletions")) {
        while (rows.next()) {
          statuses.add(rows.getString(1));
        }
      }
      return statuses;
    });
  }

  /** A clock the test moves by hand. */
  private static final class TestClock extends Clock {
    private Instant now;

    TestClock(Instant start) {
      this.now = start;
    }

    void advance(Duration duration) {
      now = now.plus(duration);
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }
}
