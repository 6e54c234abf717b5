package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The key state matrix of AWS's key-state.md as one table: every operation on a KMS key, in Enabled,
 * Disabled, PendingDeletion and Unavailable (its store disconnected), with AWS's exception names and
 * messages ({arn} stands for the key's ARN; "OK" means it succeeds).
 */
class KeyStateMatrixTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  private static final KeyState[] STATES = {KeyState.Enabled, KeyState.Disabled, KeyState.PendingDeletion,
      KeyState.Unavailable};
  private static final String DISABLED = "DisabledException: {arn} is disabled.";
  private static final String PENDING = "KMSInvalidStateException: {arn} is pending deletion.";
  private static final String UNAVAILABLE = "KMSInvalidStateException: {arn} is unavailable.";
  private static final String NOT_PENDING = "KMSInvalidStateException: {arn} is not pending deletion.";
  private static final String UNSUPPORTED = "UnsupportedOperationException";
  private static final String DRY_RUN =
      "DryRunOperationException: The request would have succeeded, but the DryRun option is set.";
  private static final List<String> IGNORE_CIPHERTEXT = List.of("IGNORE_CIPHERTEXT");

  /** What an operation does with a key. */
  @FunctionalInterface
  private interface Operation {
    void on(Fixture f, KeyMetadata key);
  }

  private record Row(String name, Operation operation, String... outcomes) {}

  private static final List<Row> TABLE = List.of(
      //                                                                     Enabled  Disabled  PendingDeletion  Unavailable
      new Row("Encrypt", (f, k) -> f.crypto.encrypt(new EncryptRequest(k.keyId(), new byte[] {1}, null, null)),
          "OK", DISABLED, PENDING, UNAVAILABLE),
      new Row("Decrypt", (f, k) -> f.crypto.decrypt(new DecryptRequest(f.blobs.get(k.keyId()), null, null, null)),
          "OK", DISABLED, PENDING, UNAVAILABLE),
      new Row("ReEncrypt", (f, k) -> f.crypto.reEncrypt(
          new ReEncryptRequest(f.blobs.get(k.keyId()), null, null, f.spare.keyId(), null)),
          "OK", DISABLED, PENDING, UNAVAILABLE),
      new Row("ReEncrypt to the key", (f, k) -> f.crypto.reEncrypt(
          new ReEncryptRequest(f.blobs.get(f.spare.keyId()), null, null, k.keyId(), null)),
          "OK", DISABLED, PENDING, UNAVAILABLE),
      new Row("GenerateDataKey", (f, k) -> f.crypto.generateDataKey(
          new GenerateDataKeyRequest(k.keyId(), null, "AES_256", null)), "OK", DISABLED, PENDING, UNAVAILABLE),
      // A dry run answers as the run would, but for DryRunOperationException where the run succeeds.
      new Row("Encrypt, DryRun", (f, k) -> f.crypto.encrypt(new EncryptRequest(k.keyId(), new byte[] {1}, null, null,
          true)), DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("Decrypt, DryRun", (f, k) -> f.crypto.decrypt(new DecryptRequest(f.blobs.get(k.keyId()), null, null,
          null, true, null)), DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("Decrypt, DryRun IGNORE_CIPHERTEXT", (f, k) -> f.crypto.decrypt(new DecryptRequest(null, null,
          k.keyId(), null, true, IGNORE_CIPHERTEXT)), DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("ReEncrypt, DryRun", (f, k) -> f.crypto.reEncrypt(new ReEncryptRequest(f.blobs.get(k.keyId()), null,
          null, f.spare.keyId(), null, null, null, true, null)), DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("ReEncrypt to the key, DryRun", (f, k) -> f.crypto.reEncrypt(new ReEncryptRequest(
          f.blobs.get(f.spare.keyId()), null, null, k.keyId(), null, null, null, true, null)),
          DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("ReEncrypt, DryRun IGNORE_CIPHERTEXT", (f, k) -> f.crypto.reEncrypt(new ReEncryptRequest(null, null,
          k.keyId(), f.spare.keyId(), null, null, null, true, IGNORE_CIPHERTEXT)),
          DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("GenerateDataKey, DryRun", (f, k) -> f.crypto.generateDataKey(
          new GenerateDataKeyRequest(k.keyId(), null, "AES_256", null, true)), DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("GenerateDataKeyWithoutPlaintext, DryRun", (f, k) -> f.crypto.generateDataKeyWithoutPlaintext(
          f.keys.resolver().resolve(k.keyId()), new GenerateDataKeyRequest(k.keyId(), null, null, 32, true)),
          DRY_RUN, DISABLED, PENDING, UNAVAILABLE),
      new Row("DescribeKey", (f, k) -> f.keys.describeKey(k.keyId()), "OK", "OK", "OK", "OK"),
      new Row("EnableKey", (f, k) -> f.keys.enableKey(k.keyId()), "OK", "OK", PENDING, "OK"),
      new Row("DisableKey", (f, k) -> f.keys.disableKey(k.keyId()), "OK", "OK", PENDING, "OK"),
      new Row("ScheduleKeyDeletion", (f, k) -> f.keys.deletions().scheduleKeyDeletion(k.keyId(), 7), "OK", "OK", PENDING, "OK"),
      new Row("CancelKeyDeletion", (f, k) -> f.keys.deletions().cancelKeyDeletion(k.keyId()),
          NOT_PENDING, NOT_PENDING, "OK", NOT_PENDING),
      new Row("UpdateKeyDescription", (f, k) -> f.keys.updateKeyDescription(k.keyId(), "new"),
          "OK", "OK", PENDING, "OK"),
      new Row("CreateAlias", (f, k) -> f.keys.aliases().createAlias("alias/" + k.keyId(), k.keyId()),
          "OK", "OK", PENDING, "OK"),
      new Row("TagResource", (f, k) -> f.keys.tags().tagResource(k.keyId(), List.of(new Tag("t", "v"))),
          "OK", "OK", PENDING, "OK"),
      new Row("UntagResource", (f, k) -> f.keys.tags().untagResource(k.keyId(), List.of("t")),
          "OK", "OK", PENDING, "OK"),
      new Row("ListResourceTags", (f, k) -> f.keys.tags().listResourceTags(k.keyId(), null, null),
          "OK", "OK", "OK", "OK"),
      new Row("GetKeyPolicy", (f, k) -> f.keys.policies().getKeyPolicy(k.keyId(), null), "OK", "OK", "OK", "OK"),
      new Row("ListKeyPolicies", (f, k) -> f.keys.policies().listKeyPolicies(k.keyId()), "OK", "OK", "OK", "OK"),
      new Row("ListAliases", (f, k) -> f.keys.aliases().listAliases(k.keyId(), null, null), "OK", "OK", "OK", "OK"),
      new Row("EnableKeyRotation", (f, k) -> f.keys.enableKeyRotation(k.keyId()),
          UNSUPPORTED, UNSUPPORTED, UNSUPPORTED, UNSUPPORTED),
      new Row("GetKeyRotationStatus", (f, k) -> f.keys.getKeyRotationStatus(k.keyId()),
          UNSUPPORTED, UNSUPPORTED, UNSUPPORTED, UNSUPPORTED),
      new Row("ImportKeyMaterial", (f, k) -> f.keys.importKeyMaterial(k.keyId()),
          UNSUPPORTED, UNSUPPORTED, UNSUPPORTED, UNSUPPORTED));

  @TempDir Path data;

  /** Everything one table needs. */
  private static final class Fixture {
    KmsKeys keys;
    KmsCrypto crypto;
    KeyMetadata spare;
    final java.util.Map<String, byte[]> blobs = new java.util.HashMap<>();
  }

  @Test
  void everyOperationInEveryKeyState() throws Exception {
    KeyStoreFixture stores = new KeyStoreFixture(softhsm, data);
    Cluster available = stores.newCluster(2);
    Cluster disconnected = stores.newCluster(2);
    CustomKeyStores keyStores = stores.open();
    String up = keyStores.createCustomKeyStore(stores.createRequest("up", available));
    String down = keyStores.createCustomKeyStore(stores.createRequest("down", disconnected));
    for (String store : List.of(up, down)) {
      keyStores.connectCustomKeyStore(store);
      assertThat(stores.awaitSettled(store).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    }
    Fixture f = new Fixture();
    f.keys = new KmsKeys(stores.metadata, stores.registry, keyStores, stores.connections,
        new Account("111122223333", "us-east-1"), Clock.systemUTC());
    f.crypto = new KmsCrypto(f.keys, keyStores, stores.connections);
    f.spare = f.keys.createKey(CreateKeyRequest.inCustomKeyStore(up, "ReEncrypt's other key"));
    f.blobs.put(f.spare.keyId(),
        f.crypto.encrypt(new EncryptRequest(f.spare.keyId(), new byte[] {7}, null, null)).ciphertextBlob());

    // One key per cell, each with a ciphertext made while it was usable.
    List<KeyMetadata[]> cells = new ArrayList<>();
    for (int r = 0; r < TABLE.size(); r++) {
      KeyMetadata[] row = new KeyMetadata[STATES.length];
      for (int s = 0; s < STATES.length; s++) {
        row[s] = f.keys.createKey(CreateKeyRequest.inCustomKeyStore(STATES[s] == KeyState.Unavailable ? down : up, null));
        f.blobs.put(row[s].keyId(),
            f.crypto.encrypt(new EncryptRequest(row[s].keyId(), new byte[] {7}, null, null)).ciphertextBlob());
        if (STATES[s] == KeyState.Disabled) {
          f.keys.disableKey(row[s].keyId());
        } else if (STATES[s] == KeyState.PendingDeletion) {
          f.keys.deletions().scheduleKeyDeletion(row[s].keyId(), 30);
        }
      }
      cells.add(row);
    }
    keyStores.disconnectCustomKeyStore(down);

    List<String> mismatches = new ArrayList<>();
    for (int r = 0; r < TABLE.size(); r++) {
      Row row = TABLE.get(r);
      for (int s = 0; s < STATES.length; s++) {
        KeyMetadata key = cells.get(r)[s];
        assertThat(f.keys.describeKey(key.keyId()).keyState()).isEqualTo(STATES[s]);
        String outcome;
        try {
          row.operation().on(f, key);
          outcome = "OK";
        } catch (KmsException e) {
          outcome = e.type() + ": " + e.getMessage();
        }
        String expected = row.outcomes()[s].replace("{arn}", key.arn());
        boolean matches = expected.equals(UNSUPPORTED) ? outcome.startsWith(UNSUPPORTED + ":") : outcome.equals(expected);
        if (!matches) {
          mismatches.add(row.name() + " in " + STATES[s] + ": got '" + outcome + "', expected '" + expected + "'");
        }
      }
    }
    assertThat(mismatches).isEmpty();
    stores.close();
  }
}
