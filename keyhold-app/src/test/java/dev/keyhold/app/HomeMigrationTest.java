package dev.keyhold.app;

import static dev.keyhold.app.UpgradeFromSavedHomeTest.CONTEXT;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.ENABLED_KEY;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.PLAINTEXT;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.ROOT_ACCESS_KEY_ID;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.SAVED_CIPHERTEXT;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.app.operator.ConfigFile;
import dev.keyhold.app.operator.HomeMigration;
import dev.keyhold.app.operator.NodeConfig;
import dev.keyhold.app.operator.OperatorSite;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.CredentialStore;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * From one machine to several: the home saved by 0f936c0 (UpgradeFromSavedHomeTest's) is moved into
 * a real PostgreSQL with {@code bin/keyhold migrate}, twice (the second run changes nothing), and a node
 * in operator mode then serves it, with its clusters file, master key and tokens, and decrypts the
 * ciphertext that 0f936c0 made.
 */
class HomeMigrationTest {
  @TempDir Path temp;

  @Test
  void aSavedHomeMovesIntoPostgresqlAndKeepsDecrypting() throws Exception {
    Path home = temp.resolve("home");
    try (InputStream fixture = HomeMigrationTest.class.getResourceAsStream(UpgradeFromSavedHomeTest.FIXTURE)) {
      UpgradeFromSavedHomeTest.unpack(fixture, home);
    }
    UpgradeFromSavedHomeTest.pointSoftHsmAtTokensOf(home);
    Path config = OperatorSite.writeConfig(temp.resolve("node.yaml"), "migrated-1", home.resolve("clusters.json"),
        home.resolve("data/master.key"), temp.resolve("audit.log"));
    NodeConfig node = ConfigFile.read(config, System::getenv).orElseThrow();

    HomeMigration.Outcome first = HomeMigration.migrate(home, node);
    HomeMigration.Outcome second = HomeMigration.migrate(home, node);

    assertThat(first.alreadyMigrated()).isFalse();
    assertThat(first.rowsCopied()).containsEntry("custom_key_stores", 1).containsEntry("kms_keys", 4);
    assertThat(first.credentialsMoved()).isEqualTo(1);
    assertThat(second.alreadyMigrated()).isTrue();

    Credential root = CredentialStore.load(home.resolve("credentials.json"),
        MasterKey.load(home.resolve("data/master.key"))).lookup(ROOT_ACCESS_KEY_ID).orElseThrow();
    OperatorSite.Node served = OperatorSite.start("migrated-1", config,
        Map.of("SOFTHSM2_CONF", home.resolve("softhsm/softhsm2.conf").toString()), Region.US_EAST_1, root);
    try (KmsClient client = served.client()) {
      String plaintext = client.decrypt(r -> r.ciphertextBlob(SdkBytes.fromByteArray(
          Base64.getDecoder().decode(SAVED_CIPHERTEXT))).encryptionContext(CONTEXT))
          .plaintext().asUtf8String();
      assertThat(plaintext).isEqualTo(PLAINTEXT);
      assertThat(client.describeKey(r -> r.keyId(ENABLED_KEY)).keyMetadata().keyStateAsString()).isEqualTo("Enabled");
    } finally {
      served.stop();
    }
  }
}
