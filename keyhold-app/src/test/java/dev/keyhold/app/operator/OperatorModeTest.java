package dev.keyhold.app.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.app.KeyholdCommand;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;
import software.amazon.awssdk.services.kms.model.KmsException;
import software.amazon.awssdk.services.kms.model.OriginType;

/**
 * A node in operator mode, as an operator runs it: a YAML file naming a real PostgreSQL, a clusters
 * file and a master key; {@code --check}; credentials made with {@code bin/keyhold credentials}, and a
 * user's identity policy put, read and deleted with it; the AWS SDK against the node; the account root
 * in a key policy delegating to that identity policy, and a Deny naming the user's ARN overriding it;
 * a deleted credential refused.
 */
class OperatorModeTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String APP = "arn:aws:iam::111122223333:user/app";
  /** The account root in the key policy delegates to the app's identity policy, which names the two actions. */
  private static final String APP_POLICY = """
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}""";

  @TempDir Path work;

  @Test
  void aNodeOnPostgresqlServesWithTheCredentialsOfItsDatabase() throws Exception {
    Cluster cluster = new LocalClusterProvisioner(softhsm.module(), work.resolve("clusters.json"))
        .provision(ClusterId.random(new SecureRandom()), 2, Optional.empty(), softhsm.soPin(), softhsm.kmsuserPin())
        .cluster();
    Path config = OperatorSite.writeConfig(work.resolve("node.yaml"), "node-1", work.resolve("clusters.json"),
        work.resolve("master.key"), work.resolve("audit.log"));

    assertThat(keyhold("--config", config.toString(), "--check").exitCode).isEqualTo(1); // no master key yet
    assertThat(keyhold("master-key", "create", "--config", config.toString()).exitCode).isZero();
    assertThat(keyhold("--config", config.toString(), "--check").exitCode).isZero();
    JsonNode admin = JSON.readTree(
        keyhold("credentials", "create", "--config", config.toString(), "--principal",
            "arn:aws:iam::111122223333:root", "--administrator").output);
    JsonNode app = JSON.readTree(
        keyhold("credentials", "create", "--config", config.toString(), "--principal", APP).output);
    assertThat(app.get("Principal").asText()).isEqualTo(APP);
    assertThat(keyhold("credentials", "list", "--config", config.toString()).output)
        .contains(app.get("AccessKeyId").asText()).doesNotContain(app.get("SecretAccessKey").asText());
    Path appPolicy = Files.writeString(work.resolve("app-policy.json"), APP_POLICY);
    assertThat(keyhold("credentials", "put-policy", "--config", config.toString(), "--principal", APP,
        "--policy-name", "EncryptDecrypt", "--policy-document", appPolicy.toString()).exitCode).isZero();
    assertThat(keyhold("credentials", "get-policy", "--config", config.toString(), "--principal", APP,
        "--policy-name", "EncryptDecrypt").output).isEqualTo(APP_POLICY + "\n");
    Path malformed = Files.writeString(work.resolve("malformed.json"), APP_POLICY.replace("\"Effect\"",
        "\"Principal\": \"*\", \"Effect\""));
    assertThat(keyhold("credentials", "put-policy", "--config", config.toString(), "--principal", APP,
        "--policy-name", "Malformed", "--policy-document", malformed.toString()).exitCode).isEqualTo(1);
    assertThat(keyhold("credentials", "put-policy", "--config", config.toString(), "--principal", APP,
        "--policy-name", "Missing", "--policy-document", work.resolve("missing.json").toString()).exitCode).isEqualTo(1);

    try (OperatorNode node = OperatorNode.start(ConfigFile.read(config, System::getenv).orElseThrow());
        KmsClient root = client(node, admin);
        KmsClient appClient = client(node, app)) {
      String store = root.createCustomKeyStore(r -> r.customKeyStoreName("main").cloudHsmClusterId(cluster.clusterId())
          .trustAnchorCertificate(cluster.trustAnchor().pem())
          .keyStorePassword(softhsm.kmsuserPin().withChars(String::valueOf))).customKeyStoreId();
      root.connectCustomKeyStore(r -> r.customKeyStoreId(store));
      awaitConnected(root, store);
      String policy = """
          {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": "%s"}, "Action": "kms:Decrypt", "Resource": "*"}]}
          """.formatted(APP);
      String keyId = root.createKey(r -> r.customKeyStoreId(store).origin(OriginType.AWS_CLOUDHSM).policy(policy))
          .keyMetadata().keyId();

      SdkBytes blob = appClient.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("operator")))
          .ciphertextBlob();
      assertThat(root.decrypt(r -> r.ciphertextBlob(blob)).plaintext().asUtf8String()).isEqualTo("operator");
      assertThat(catchThrowableOfType(KmsException.class, () -> appClient.decrypt(r -> r.ciphertextBlob(blob)))
          .awsErrorDetails().errorCode()).isEqualTo("AccessDeniedException");
      assertThat(keyhold("credentials", "delete-policy", "--config", config.toString(), "--principal", APP,
          "--policy-name", "EncryptDecrypt").exitCode).isZero();
      assertThat(refusalOf(() -> appClient.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("operator"))))
          .awsErrorDetails().errorMessage()).endsWith("because no identity-based policy allows the kms:Encrypt action");

      assertThat(keyhold("credentials", "delete", "--config", config.toString(), "--access-key-id",
          app.get("AccessKeyId").asText()).exitCode).isZero();
      assertThat(refusalOf(() -> appClient.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("again"))))
          .awsErrorDetails().errorCode()).isEqualTo("UnrecognizedClientException");
    }
    assertThat(Files.readString(work.resolve("audit.log"))).contains("\"operation\":\"Encrypt\"");
    MasterKey.load(work.resolve("master.key")); // created once, 0600
  }

  /**
   * What {@code call} fails with once the node has heard of a change made by the command line: the
   * change reaches it as a notification after the command's commit, within a second, not before the
   * command returns.
   */
  private static KmsException refusalOf(Runnable call) throws InterruptedException {
    AtomicReference<KmsException> refusal = new AtomicReference<>();
    OperatorSite.awaitWithin(Duration.ofSeconds(5), () -> {
      try {
        call.run();
        return false;
      } catch (KmsException e) {
        refusal.set(e);
        return true;
      }
    });
    return refusal.get();
  }

  private record Run(int exitCode, String output) {}

  /** Runs {@code bin/keyhold} with {@code args} in this JVM, capturing what it prints. */
  private static Run keyhold(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrintStream original = System.out;
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      int exitCode = new CommandLine(new KeyholdCommand()).execute(args);
      return new Run(exitCode, out.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(original);
    }
  }

  private static KmsClient client(OperatorNode node, JsonNode credential) {
    return KmsClient.builder()
        .endpointOverride(node.server().uri())
        .region(Region.US_EAST_1)
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
            credential.get("AccessKeyId").asText(), credential.get("SecretAccessKey").asText())))
        .httpClient(UrlConnectionHttpClient.builder().build())
        .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
        .build();
  }

  private static void awaitConnected(KmsClient client, String store) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (client.describeCustomKeyStores(r -> r.customKeyStoreId(store)).customKeyStores().get(0).connectionState()
        != ConnectionStateType.CONNECTED) {
      assertThat(System.nanoTime()).as("connected in time").isLessThan(deadline);
      Thread.sleep(50);
    }
  }
}
