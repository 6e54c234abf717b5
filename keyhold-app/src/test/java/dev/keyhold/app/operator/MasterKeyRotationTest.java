package dev.keyhold.app.operator;

import static dev.keyhold.app.operator.OperatorSite.awaitWithin;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.MetadataCredentials;
import dev.keyhold.server.ops.AuditLogVerifier;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;

/**
 * The master key is rotated under load on two nodes, and the rotation is killed in the middle, after
 * every secret was sealed again and before the new key took the old one's place: no call of the load
 * fails, the next run finishes the rotation, and, without a restart, both nodes connect the key store
 * (opening its kmsuser password under the new key) and take the administrator's credential and a new
 * one.
 */
class MasterKeyRotationTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);

  @TempDir Path work;

  @Test
  void aRotationKilledInTheMiddleLosesNoSecretAndEveryNodeStillConnects() throws Exception {
    try (OperatorSite site = new OperatorSite(softhsm, work)) {
      OperatorSite.Node first = site.start("node-1");
      OperatorSite.Node second = site.start("node-2");
      String store = site.connectMainStore(first);
      String keyId = first.client().createKey(r -> r.description("rotated under")).keyMetadata().keyId();
      ThreeNodesTest.awaitEncrypt(second.client(), keyId);
      byte[] keyBefore = Files.readAllBytes(site.masterKeyFile);

      Load load = new Load(List.of(first.client(), second.client()), 8, client -> {
        SdkBytes blob = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("load"))).ciphertextBlob();
        client.decrypt(r -> r.ciphertextBlob(blob));
        return 2;
      });
      Process rotation = site.launch("rotation", PausingRotation.class, "resealed");
      BufferedReader output = new BufferedReader(new InputStreamReader(rotation.getInputStream(), StandardCharsets.UTF_8));
      String line;
      do {
        line = output.readLine();
        assertThat(line).as("the rotation reached the step").isNotNull();
      } while (!line.equals("paused at resealed"));
      rotation.destroyForcibly();
      assertThat(rotation.waitFor(30, TimeUnit.SECONDS)).isTrue();

      NodeConfig config = site.config("rotation");
      try (JdbcMetadataStore metadata = OperatorNode.openMetadata(config.metadata())) {
        MasterKeyCommand.rotation(config, metadata, Checkpoints.NONE).rotate();
      }
      Thread.sleep(1000);
      List<String> failures = load.stop();

      assertThat(failures).isEmpty();
      assertThat(Files.readAllBytes(site.masterKeyFile)).isNotEqualTo(keyBefore);
      KmsClient client = second.client();
      client.disconnectCustomKeyStore(r -> r.customKeyStoreId(store));
      client.connectCustomKeyStore(r -> r.customKeyStoreId(store));
      for (OperatorSite.Node node : List.of(first, second)) {
        awaitWithin(Duration.ofSeconds(60), () -> node.client().describeCustomKeyStores(r -> r.customKeyStoreId(store))
            .customKeyStores().get(0).connectionState() == ConnectionStateType.CONNECTED);
        ThreeNodesTest.awaitEncrypt(node.client(), keyId);
      }

      Credential added = Credential.generate("arn:aws:iam::111122223333:root", new SecureRandom());
      try (JdbcMetadataStore metadata = OperatorNode.openMetadata(config.metadata())) {
        new MetadataCredentials(metadata, MasterKey.load(site.masterKeyFile), Clock.systemUTC()).create(added);
      }
      for (OperatorSite.Node node : List.of(first, second)) {
        awaitWithin(Duration.ofSeconds(5), () -> {
          try (KmsClient withAdded = clientSigningAs(node, added)) {
            return withAdded.listKeys().keys().stream().anyMatch(key -> key.keyId().equals(keyId));
          } catch (RuntimeException notYet) {
            return false;
          }
        });
      }
      System.out.printf("%d calls on two nodes while the master key rotated, the rotation killed once; none failed%n",
          load.calls());
    }
    // The nodes stopped gracefully. Each one's audit log followed the rotation with a key change line,
    // and verifies under the rotated key's files: the new key, and the old one beside it.
    AuditLogVerifier rotated = AuditLogVerifier.of(MasterKey.load(work.resolve("etc/master.key")));
    for (String node : List.of("node-1", "node-2")) {
      Path log = work.resolve("log/audit-" + node + ".log");
      assertThat(rotated.verify(List.of(log), true).problem()).as(node).isEmpty();
      assertThat(Files.readString(log)).as(node).contains("\"event\":\"keyChange\"");
    }
  }

  private static KmsClient clientSigningAs(OperatorSite.Node node, Credential credential) {
    return KmsClient.builder().endpointOverride(node.uri()).region(node.region())
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
            credential.accessKeyId(), credential.secretAccessKey().withChars(String::valueOf))))
        .httpClient(UrlConnectionHttpClient.builder().build())
        .build();
  }
}
