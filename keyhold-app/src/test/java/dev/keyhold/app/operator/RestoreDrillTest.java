package dev.keyhold.app.operator;

import static dev.keyhold.app.operator.OperatorSite.awaitWithin;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.postgres.ThrowawayPostgres;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * The restore drill of docs/deployment.md, as a test: the database, the master key and the tokens are
 * backed up at different moments (a kmsuser rotation and a new key between them, and one more key after
 * every backup), everything is lost, and each mix of backups is restored. Every key then either works
 * or is reported, never lost silently:
 * <ul>
 *   <li>a key in every backup works;
 *   <li>a record without material (the database newer than the tokens) is named in {@code /health}'s
 *       {@code keysWithoutMaterial}, and its calls fail with KMSInvalidStateException;
 *   <li>material without a record (the tokens newer) is named in {@code orphanedMaterial};
 *   <li>a key made after every backup is in none: DescribeKey answers NotFoundException, and a
 *       Decrypt of its ciphertext InvalidCiphertextException;
 *   <li>tokens and database that disagree on kmsuser's password show FAILED / INVALID_CREDENTIALS, and
 *       the documented fix (reset the password with the SO PIN, UpdateCustomKeyStore) connects.
 * </ul>
 */
class RestoreDrillTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path work;

  @Test
  void everyKeyWorksOrIsReportedWhateverMixOfBackupsIsRestored() throws Exception {
    ThrowawayPostgres postgres = ThrowawayPostgres.forThisJvm();
    Path backups = Files.createDirectories(work.resolve("backups"));
    try (OperatorSite site = new OperatorSite(softhsm, work.resolve("site"))) {
      OperatorSite.Node node = site.start("node-1");
      KmsClient client = node.client();
      String store = site.connectMainStore(node);
      Key early = Key.create(client, "in every backup");

      Files.copy(site.masterKeyFile, backups.resolve("master.key"));
      copyTree(softhsm.tokenDirectory(), backups.resolve("tokens-1"));
      postgres.dump(site.database, backups.resolve("db-1.dump"));

      client.disconnectCustomKeyStore(r -> r.customKeyStoreId(store));
      client.connectCustomKeyStore(r -> r.customKeyStoreId(store)); // rotates kmsuser's password
      awaitWithin(Duration.ofSeconds(60), () -> state(client, store) == ConnectionStateType.CONNECTED);
      Key middle = Key.create(client, "in the second backups");
      copyTree(softhsm.tokenDirectory(), backups.resolve("tokens-2"));
      postgres.dump(site.database, backups.resolve("db-2.dump"));
      Key late = Key.create(client, "after every backup");
      node.stop();

      // The database newer than the tokens: the middle key has a record and no material.
      OperatorSite.Node restored = restore(site, backups, "db-2.dump", "tokens-1", "node-a", store);
      assertThat(early.decryptsOn(restored.client())).isTrue();
      JsonNode health = awaitStoreHealth(restored, store, "keysWithoutMaterial");
      assertThat(texts(health.get("keysWithoutMaterial"))).containsExactly(middle.arn);
      assertThat(errorOf(() -> middle.decryptsOn(restored.client()))).isEqualTo("KMSInvalidStateException");
      late.assertUnknownTo(restored.client());
      restored.stop();

      // The tokens newer than the database: the middle key's material has no record.
      OperatorSite.Node older = restore(site, backups, "db-1.dump", "tokens-2", "node-b", store);
      assertThat(early.decryptsOn(older.client())).isTrue();
      health = awaitStoreHealth(older, store, "orphanedMaterial");
      assertThat(health.get("orphanedMaterial")).hasSize(2); // on both HSMs
      health.get("orphanedMaterial").forEach(orphan -> assertThat(orphan.get("label").asText()).isEqualTo(middle.arn));
      assertThat(health.get("keysWithoutMaterial")).isEmpty();
      middle.assertUnknownTo(older.client());
      late.assertUnknownTo(older.client());
    }
  }

  /**
   * Loses everything, restores the master key, the tokens and the database from the named backups,
   * starts a node on them, and repairs kmsuser's password as docs/deployment.md says when the store
   * reports INVALID_CREDENTIALS, as it must here; returns the node once the store is CONNECTED.
   */
  private static OperatorSite.Node restore(OperatorSite site, Path backups, String dump, String tokens, String name,
      String store) throws Exception {
    Files.delete(site.masterKeyFile);
    Files.copy(backups.resolve("master.key"), site.masterKeyFile);
    MoreFiles.deleteDirectoryContents(softhsm.tokenDirectory(), RecursiveDeleteOption.ALLOW_INSECURE);
    copyTree(backups.resolve(tokens), softhsm.tokenDirectory());
    String database = ThrowawayPostgres.forThisJvm().restore(backups.resolve(dump));

    OperatorSite.Node node = site.startOn(database, name);
    KmsClient client = node.client();
    awaitWithin(Duration.ofSeconds(60), () -> state(client, store) != ConnectionStateType.CONNECTING);
    // A rotation lies between the two backups, so the tokens hold another password than the database.
    assertThat(state(client, store)).isEqualTo(ConnectionStateType.FAILED);
    assertThat(client.describeCustomKeyStores(r -> r.customKeyStoreId(store)).customKeyStores().get(0)
        .connectionErrorCodeAsString()).isEqualTo("INVALID_CREDENTIALS");
    Pin password = Pin.random(new SecureRandom(), 16);
    client.disconnectCustomKeyStore(r -> r.customKeyStoreId(store));
    resetKmsuser(site, password);
    client.updateCustomKeyStore(r -> r.customKeyStoreId(store).keyStorePassword(password.withChars(String::valueOf)));
    client.connectCustomKeyStore(r -> r.customKeyStoreId(store));
    awaitWithin(Duration.ofSeconds(60), () -> state(client, store) != ConnectionStateType.CONNECTING);
    assertThat(state(client, store)).isEqualTo(ConnectionStateType.CONNECTED);
    return node;
  }

  private static void resetKmsuser(OperatorSite site, Pin password) throws Exception {
    ProcessBuilder builder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Dkeyhold.test.module=" + SoftHsmClusterExtension.modulePath(), "-cp", System.getProperty("java.class.path"),
        ResetKmsuser.class.getName(), site.cluster.clusterId(), String.valueOf(site.cluster.hsms().size()))
        .redirectErrorStream(true);
    builder.environment().put("KEYHOLD_SO_PIN", softhsm.soPin().withChars(String::valueOf));
    builder.environment().put("KEYHOLD_KMSUSER_PIN", password.withChars(String::valueOf));
    Process process = builder.start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(process.exitValue()).as(output).isZero();
  }

  /** The store's entry in the node's {@code /health} once two reconciler passes have named something in {@code field}. */
  private static JsonNode awaitStoreHealth(OperatorSite.Node node, String store, String field) throws Exception {
    JsonNode[] entry = new JsonNode[1];
    awaitWithin(Duration.ofSeconds(60), () -> {
      try {
        for (JsonNode keyStore : JSON.readTree(node.health()).get("keyStores")) {
          if (keyStore.get("id").asText().equals(store) && !keyStore.get(field).isEmpty()) {
            entry[0] = keyStore;
            return true;
          }
        }
        return false;
      } catch (IOException | InterruptedException e) {
        return false;
      }
    });
    return entry[0];
  }

  private static ConnectionStateType state(KmsClient client, String store) {
    return client.describeCustomKeyStores(r -> r.customKeyStoreId(store)).customKeyStores().get(0).connectionState();
  }

  private static List<String> texts(JsonNode array) {
    List<String> texts = new ArrayList<>();
    array.forEach(item -> texts.add(item.asText()));
    return texts;
  }

  private static String errorOf(Runnable call) {
    return catchThrowableOfType(KmsException.class, call::run).awsErrorDetails().errorCode();
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> files = Files.walk(from)) {
      for (Path file : (Iterable<Path>) files::iterator) {
        Path target = to.resolve(from.relativize(file).toString());
        if (Files.isDirectory(file)) {
          Files.createDirectories(target);
        } else {
          Files.copy(file, target);
        }
      }
    }
  }

  /** A key and a ciphertext under it. */
  private record Key(String arn, SdkBytes blob) {
    static Key create(KmsClient client, String description) {
      String arn = client.createKey(r -> r.description(description)).keyMetadata().arn();
      return new Key(arn, client.encrypt(r -> r.keyId(arn).plaintext(SdkBytes.fromUtf8String(description)))
          .ciphertextBlob());
    }

    boolean decryptsOn(KmsClient client) {
      return !client.decrypt(r -> r.ciphertextBlob(blob)).plaintext().asUtf8String().isEmpty();
    }

    /** The key has no record where {@code client} asks. */
    void assertUnknownTo(KmsClient client) {
      assertThat(errorOf(() -> client.describeKey(r -> r.keyId(arn)))).isEqualTo("NotFoundException");
      assertThat(errorOf(() -> decryptsOn(client))).isEqualTo("InvalidCiphertextException");
    }
  }
}
