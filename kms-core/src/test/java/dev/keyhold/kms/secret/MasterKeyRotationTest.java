package dev.keyhold.kms.secret;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.TestMetadata;
import dev.keyhold.pkcs11.Pin;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A master key rotation seals every secret again under a new key, and a stop between any two of its
 * steps leaves every secret readable, by the node that runs it, by a node that started before it
 * (holding the old key) and by a node started after; run again, it finishes. The secrets live in a
 * table of the real metadata database.
 */
class MasterKeyRotationTest {
  @TempDir Path directory;

  @ParameterizedTest
  @ValueSource(strings = {"next-written", "resealed", "previous-kept", "promoted"})
  void aStopAtAnyStepLosesNoSecretAndTheNextRunFinishes(String stopAt) throws Exception {
    Path file = directory.resolve("master.key");
    MasterKey running = MasterKey.loadOrCreate(file); // a node that runs through the rotation
    try (JdbcMetadataStore metadata = TestMetadata.open(directory.resolve("data"))) {
      Map<String, String> secrets = sealSecrets(metadata, running);
      MasterKey.Key before = running.current();

      assertThatThrownBy(() -> rotation(metadata, step -> {
        if (step.equals(stopAt)) {
          throw new IllegalStateException("stopped at " + step);
        }
      }).rotate()).hasMessage("stopped at " + stopAt);
      assertOpen(metadata, secrets, running);
      assertOpen(metadata, secrets, MasterKey.load(file));

      if (!stopAt.equals("promoted")) {
        rotation(metadata, Checkpoints.NONE).rotate();
      }
      MasterKey after = MasterKey.load(file);
      assertThat(after.current().id()).isNotEqualTo(before.id());
      assertOpen(metadata, secrets, running);
      assertOpen(metadata, secrets, after);
      assertThat(storedSecrets(metadata).entrySet()).allSatisfy(stored ->
          assertThat(MasterKey.isSealedUnder(SealedSecret.fromBase64(stored.getValue()), after.current())).isTrue());
      assertThat(Files.exists(MasterKey.nextFile(file))).isFalse();
      assertThat(MasterKey.Key.read(MasterKey.previousFile(file)).id()).isEqualTo(before.id());
    }
  }

  @Test
  void aSecondRotationStillOpensWhatTheFirstSealedAndSealsUnderTheNewestKey() throws Exception {
    Path file = directory.resolve("master.key");
    MasterKey stale = MasterKey.loadOrCreate(file);
    try (JdbcMetadataStore metadata = TestMetadata.open(directory.resolve("data"))) {
      Map<String, String> secrets = sealSecrets(metadata, stale);
      rotation(metadata, Checkpoints.NONE).rotate();
      rotation(metadata, Checkpoints.NONE).rotate();

      assertOpen(metadata, secrets, stale);
      SealedSecret fresh = stale.seal(Pin.of("new".toCharArray()), "ctx");
      assertThat(MasterKey.isSealedUnder(fresh, MasterKey.load(file).current()))
          .as("a node that saw the file change seals under the new key").isTrue();
    }
  }

  @Test
  void aSecretSealedBeforeKeysHadIdsStillOpensAndIsRotated() throws Exception {
    Path file = directory.resolve("master.key");
    MasterKey key = MasterKey.loadOrCreate(file);
    SealedSecret unnamed = sealUnnamed(Files.readAllBytes(file), "kmsuser-password", "cks-1");

    assertThat(key.open(unnamed, "cks-1").appearsIn("kmsuser-password")).isTrue();
    try (JdbcMetadataStore metadata = TestMetadata.open(directory.resolve("data"))) {
      createTable(metadata);
      insert(metadata, "cks-1", unnamed.toBase64());
      rotation(metadata, Checkpoints.NONE).rotate();
      SealedSecret resealed = SealedSecret.fromBase64(storedSecrets(metadata).get("cks-1"));
      assertThat(MasterKey.isSealedUnder(resealed, MasterKey.load(file).current())).isTrue();
      assertThat(MasterKey.load(file).open(resealed, "cks-1").appearsIn("kmsuser-password")).isTrue();
    }
  }

  private MasterKeyRotation rotation(JdbcMetadataStore metadata, Checkpoints checkpoints) {
    MasterKey key = MasterKey.load(directory.resolve("master.key"));
    return new MasterKeyRotation(key, metadata, List.of((c, reseal) -> {
      Map<String, String> stored = new LinkedHashMap<>();
      try (Statement select = c.createStatement();
          ResultSet rows = select.executeQuery("SELECT context, sealed FROM test_secrets")) {
        while (rows.next()) {
          stored.put(rows.getString(1), rows.getString(2));
        }
      }
      try (PreparedStatement update = c.prepareStatement("UPDATE test_secrets SET sealed = ? WHERE context = ?")) {
        for (Map.Entry<String, String> secret : stored.entrySet()) {
          update.setString(1, reseal.apply(SealedSecret.fromBase64(secret.getValue()), secret.getKey()).toBase64());
          update.setString(2, secret.getKey());
          update.executeUpdate();
        }
      }
    }), checkpoints);
  }

  private static Map<String, String> sealSecrets(JdbcMetadataStore metadata, MasterKey key) {
    createTable(metadata);
    Map<String, String> plaintexts = new LinkedHashMap<>();
    for (int i = 0; i < 5; i++) {
      String context = "cks-" + i;
      String secret = "secret-" + i;
      plaintexts.put(context, secret);
      insert(metadata, context, key.seal(Pin.of(secret.toCharArray()), context).toBase64());
    }
    return plaintexts;
  }

  private static void assertOpen(JdbcMetadataStore metadata, Map<String, String> secrets, MasterKey key) {
    storedSecrets(metadata).forEach((context, sealed) -> assertThat(
        key.open(SealedSecret.fromBase64(sealed), context).appearsIn(secrets.get(context))).as(context).isTrue());
  }

  private static void createTable(JdbcMetadataStore metadata) {
    metadata.inTransaction(c -> {
      try (Statement create = c.createStatement()) {
        create.execute("CREATE TABLE test_secrets (context VARCHAR(64) PRIMARY KEY, sealed VARCHAR(512) NOT NULL)");
      }
      return null;
    });
  }

  private static void insert(JdbcMetadataStore metadata, String context, String sealed) {
    metadata.inTransaction(c -> {
      try (PreparedStatement insert = c.prepareStatement("INSERT INTO test_secrets VALUES (?, ?)")) {
        insert.setString(1, context);
        insert.setString(2, sealed);
        insert.executeUpdate();
      }
      return null;
    });
  }

  private static Map<String, String> storedSecrets(JdbcMetadataStore metadata) {
    return metadata.inTransaction(c -> {
      Map<String, String> stored = new LinkedHashMap<>();
      try (Statement select = c.createStatement();
          ResultSet rows = select.executeQuery("SELECT context, sealed FROM test_secrets ORDER BY context")) {
        while (rows.next()) {
          stored.put(rows.getString(1), rows.getString(2));
        }
      }
      return stored;
    });
  }

  /** A secret sealed as the release before key ids did: version 1, IV, ciphertext and tag. */
  private static SealedSecret sealUnnamed(byte[] key, String secret, String context) throws Exception {
    byte[] iv = new byte[12];
    Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
    cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
    cipher.updateAAD(context.getBytes(StandardCharsets.UTF_8));
    byte[] sealed = cipher.doFinal(secret.getBytes(StandardCharsets.UTF_8));
    byte[] all = new byte[1 + iv.length + sealed.length];
    all[0] = 1;
    System.arraycopy(iv, 0, all, 1, iv.length);
    System.arraycopy(sealed, 0, all, 1 + iv.length, sealed.length);
    return SealedSecret.fromBase64(Base64.getEncoder().encodeToString(all));
  }
}
