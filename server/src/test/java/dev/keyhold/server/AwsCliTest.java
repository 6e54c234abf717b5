package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AWS CLI (Debian's {@code awscli}, which bin/test installs) drives a key store's whole life
 * against a running Keyhold: {@code src/test/sh/aws-cli-key-store-life.sh}. Without the CLI the
 * test fails and says what to install.
 */
class AwsCliTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final Path SCRIPT = Path.of("src/test/sh/aws-cli-key-store-life.sh");

  @TempDir Path data;
  @TempDir Path secrets;

  @Test
  void aKeyStoresWholeLifeRunsThroughTheAwsCli() throws Exception {
    checkCliInstalled();
    try (TestKeyhold keyhold = TestKeyhold.start(softhsm, data, 2)) {
      Cluster cluster = keyhold.spareClusters.get(0);
      Cluster second = keyhold.spareClusters.get(1);
      Path trustAnchor = Files.writeString(secrets.resolve("customerCA.crt"), cluster.trustAnchor().pem());
      Path secondTrustAnchor = Files.writeString(secrets.resolve("second-customerCA.crt"), second.trustAnchor().pem());
      Path password = Files.createFile(secrets.resolve("kmsuser-password"),
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      Files.writeString(password, keyhold.kmsuserPassword() + "\n");

      ProcessBuilder script = new ProcessBuilder("bash", SCRIPT.toString()).redirectErrorStream(true);
      Map<String, String> environment = script.environment();
      environment.put("KEYHOLD_ENDPOINT", keyhold.endpoint().toString());
      environment.put("AWS_ACCESS_KEY_ID", keyhold.admin.accessKeyId());
      environment.put("AWS_SECRET_ACCESS_KEY", keyhold.admin.secretAccessKey().withChars(String::new));
      environment.put("AWS_DEFAULT_REGION", TestKeyhold.ACCOUNT.region());
      environment.put("AWS_CONFIG_FILE", "/dev/null"); // the user's own AWS settings stay out of it
      environment.put("AWS_PAGER", ""); // CLI v2 would page its output
      environment.put("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
      environment.put("CLUSTER_ID", cluster.clusterId());
      environment.put("TRUST_ANCHOR_FILE", trustAnchor.toString());
      environment.put("SECOND_CLUSTER_ID", second.clusterId());
      environment.put("SECOND_TRUST_ANCHOR_FILE", secondTrustAnchor.toString());
      environment.put("KMSUSER_PASSWORD_FILE", password.toString());
      environment.put("MALLORY_ARN", keyhold.mallory.principalArn());
      environment.put("MALLORY_ACCESS_KEY_ID", keyhold.mallory.accessKeyId());
      environment.put("MALLORY_SECRET_ACCESS_KEY", keyhold.mallory.secretAccessKey().withChars(String::new));
      Process run = script.start();
      String output = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(run.waitFor(5, TimeUnit.MINUTES)).as("the script finished").isTrue();
      System.out.println(output);

      assertThat(run.exitValue()).as(output).isZero();
      assertThat(output).contains("OK: a key store's whole life ran through the AWS CLI");
    }
  }

  private static void checkCliInstalled() throws IOException, InterruptedException {
    Process version;
    try {
      version = new ProcessBuilder("aws", "--version").redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IllegalStateException("the AWS CLI is not installed: run 'apt-get install awscli' (bin/test does it)", e);
    }
    String output = new String(version.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (version.waitFor() != 0) {
      throw new IllegalStateException("'aws --version' failed: " + output);
    }
  }
}
