package dev.keyhold.app.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.postgres.ThrowawayPostgres;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.MetadataCredentials;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;
import software.amazon.awssdk.services.kms.model.KeyListEntry;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * Three nodes, each a process of its own started from docs/examples/node.yaml, on one real
 * PostgreSQL and one 2-HSM SoftHSM2 cluster, driven with the AWS SDK: a key store connected on node 1
 * is CONNECTED on all three; a key made on node 1 encrypts on node 2 and decrypts on node 3; a key
 * disabled on node 2 is refused on node 1 within a second; ListKeys is the same everywhere.
 */
class ThreeNodesTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  private static final Path EXAMPLE = Path.of("..", "docs", "examples", "node.yaml");
  private static final Pattern SERVING = Pattern.compile("serves the AWS KMS API at (\\S+)");
  private static final Duration BOUND = Duration.ofSeconds(1);

  @TempDir Path work;

  @Test
  void threeNodesServeOneService() throws Exception {
    Path configDir = Files.createDirectories(work.resolve("etc"));
    Cluster cluster = new LocalClusterProvisioner(softhsm.module(), configDir.resolve("clusters.json"))
        .provision(ClusterId.random(new SecureRandom()), 2, Optional.empty(), softhsm.soPin(), softhsm.kmsuserPin())
        .cluster();
    MasterKey masterKey = MasterKey.loadOrCreate(configDir.resolve("master.key"));
    Path secrets = Files.createDirectories(work.resolve("secrets"));
    Files.writeString(secrets.resolve("db-password"), "unused\n");
    String database = ThrowawayPostgres.forThisJvm().newDatabase();
    Map<String, String> site = Map.of("KEYHOLD_PORT", "0", "KEYHOLD_CONFIG_DIR", configDir.toString(),
        "KEYHOLD_DB_URL", database, "KEYHOLD_SECRETS_DIR", secrets.toString(),
        "KEYHOLD_LOG_DIR", Files.createDirectories(work.resolve("log")).toString());
    Credential admin = Credential.generate("arn:aws:iam::111122223333:root", true, new SecureRandom());
    try (JdbcMetadataStore metadata = JdbcMetadataStore.open(database, ThrowawayPostgres.USER, "")) {
      new MetadataCredentials(metadata, masterKey, Clock.systemUTC()).create(admin);
    }

    List<Node> nodes = new ArrayList<>();
    try {
      for (int i = 1; i <= 3; i++) {
        nodes.add(Node.start("node-" + i, site));
      }
      KmsClient one = nodes.get(0).client(admin);
      KmsClient two = nodes.get(1).client(admin);
      KmsClient three = nodes.get(2).client(admin);

      String store = one.createCustomKeyStore(r -> r.customKeyStoreName("main").cloudHsmClusterId(cluster.clusterId())
          .trustAnchorCertificate(cluster.trustAnchor().pem())
          .keyStorePassword(softhsm.kmsuserPin().withChars(String::valueOf))).customKeyStoreId();
      one.connectCustomKeyStore(r -> r.customKeyStoreId(store));
      for (KmsClient node : List.of(one, two, three)) {
        awaitWithin(Duration.ofSeconds(60), () -> node.describeCustomKeyStores(r -> r.customKeyStoreId(store))
            .customKeyStores().get(0).connectionState() == ConnectionStateType.CONNECTED);
      }

      String keyId = one.createKey(r -> r.description("three nodes")).keyMetadata().keyId(); // the default store
      SdkBytes blob = awaitEncrypt(two, keyId); // node 2 logs in to the store once it hears of the connect
      assertThat(awaitDecrypt(three, blob)).isEqualTo("across nodes");

      two.disableKey(r -> r.keyId(keyId));
      awaitWithin(BOUND, () -> errorOf(() -> one.encrypt(r -> r.keyId(keyId)
          .plaintext(SdkBytes.fromUtf8String("x")))).equals("DisabledException"));

      List<String> listed = keys(one);
      assertThat(keys(two)).isEqualTo(listed);
      assertThat(keys(three)).isEqualTo(listed).contains(keyId);
    } finally {
      nodes.forEach(Node::stop);
    }
  }

  private static SdkBytes awaitEncrypt(KmsClient client, String keyId) throws InterruptedException {
    SdkBytes[] blob = new SdkBytes[1];
    awaitWithin(Duration.ofSeconds(30), () -> {
      try {
        blob[0] = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("across nodes")))
            .ciphertextBlob();
        return true;
      } catch (KmsException e) {
        return false;
      }
    });
    return blob[0];
  }

  private static String awaitDecrypt(KmsClient client, SdkBytes blob) throws InterruptedException {
    String[] plaintext = new String[1];
    awaitWithin(Duration.ofSeconds(30), () -> {
      try {
        plaintext[0] = client.decrypt(r -> r.ciphertextBlob(blob)).plaintext().asUtf8String();
        return true;
      } catch (KmsException e) {
        return false;
      }
    });
    return plaintext[0];
  }

  private static String errorOf(Runnable call) {
    KmsException e = catchThrowableOfType(KmsException.class, call::run);
    return e == null ? "none" : e.awsErrorDetails().errorCode();
  }

  private static List<String> keys(KmsClient client) {
    return client.listKeysPaginator(r -> r.limit(100)).keys().stream().map(KeyListEntry::keyId).toList();
  }

  private static void awaitWithin(Duration bound, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("within %s", bound).isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  /** One node: {@code bin/keyhold --config docs/examples/node.yaml} in a JVM of its own. */
  private record Node(String name, Process process, URI uri) {
    static Node start(String name, Map<String, String> site) throws IOException, InterruptedException {
      ProcessBuilder builder = new ProcessBuilder(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-cp", System.getProperty("java.class.path"), "dev.keyhold.app.KeyholdCommand",
          "--config", EXAMPLE.toString()).redirectErrorStream(true);
      builder.environment().putAll(site);
      builder.environment().put("KEYHOLD_NODE", name);
      Process process = builder.start();
      BufferedReader output = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
      StringBuilder seen = new StringBuilder();
      for (String line = output.readLine(); line != null; line = output.readLine()) {
        seen.append(line).append('\n');
        Matcher serving = SERVING.matcher(line);
        if (serving.find()) {
          Thread drain = new Thread(() -> output.lines().forEach(rest -> { }), name + "-output");
          drain.setDaemon(true);
          drain.start();
          return new Node(name, process, URI.create(serving.group(1)));
        }
      }
      process.waitFor(10, TimeUnit.SECONDS);
      throw new AssertionError(name + " did not start:\n" + seen);
    }

    KmsClient client(Credential credential) {
      return KmsClient.builder()
          .endpointOverride(uri)
          .region(Region.EU_WEST_1)
          .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
              credential.accessKeyId(), credential.secretAccessKey().withChars(String::valueOf))))
          .httpClient(UrlConnectionHttpClient.builder().build())
          .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
          .build();
    }

    void stop() {
      process.destroy();
      try {
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
      }
    }
  }
}
