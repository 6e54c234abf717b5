package dev.keyhold.softhsm;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code bin/provision-cluster} end to end, in the SoftHSM2 directory this JVM was started with. */
class ProvisionClusterTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path secrets;
  private final SecureRandom random = new SecureRandom();
  private final StringWriter err = new StringWriter();
  private Path dir;
  private Path clustersFile;
  private Path soPinFile;
  private Path kmsuserPinFile;

  @BeforeEach
  void setUp() throws IOException {
    // The command insists on SOFTHSM2_CONF naming <dir>/softhsm2.conf, and the build sets it for this JVM.
    dir = Path.of(System.getenv(SoftHsmDirectory.CONFIG_VARIABLE)).toAbsolutePath().getParent();
    clustersFile = dir.resolve(LocalClusterProvisioner.CLUSTERS_FILE);
    removeClusterFiles();
    soPinFile = Files.writeString(secrets.resolve("so-pin"), "so-" + random.nextLong() + "\n");
    kmsuserPinFile = Files.writeString(secrets.resolve("kmsuser-pin"), "ku-" + random.nextLong() + "\n");
  }

  /** Earlier builds leave clusters in target/; each test starts from none. */
  @AfterEach
  void removeClusterFiles() throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      for (Path file : (Iterable<Path>) files::iterator) {
        String name = file.getFileName().toString();
        if (name.equals(LocalClusterProvisioner.CLUSTERS_FILE) || name.endsWith(ClusterFile.CERTIFICATE_SUFFIX)) {
          Files.delete(file);
        }
      }
    }
  }

  private int run(String... args) {
    CommandLine command = new CommandLine(new ProvisionCluster());
    command.setErr(new PrintWriter(err, true));
    String[] withPins = Stream.concat(Stream.of(args), Stream.of("--dir", dir.toString(),
        "--module", SoftHsmClusterExtension.modulePath().toString(),
        "--so-pin-file", soPinFile.toString(), "--kmsuser-pin-file", kmsuserPinFile.toString())).toArray(String[]::new);
    return command.execute(withPins);
  }

  private Cluster recorded(ClusterId id) {
    return ClusterFile.read(clustersFile).find(id.toString()).orElseThrow();
  }

  @Test
  void provisionsTheTokensAndRecordsTheClusterInClustersJson() throws Exception {
    ClusterId id = ClusterId.random(random);

    assertThat(run("--cluster-id", id.toString(), "--hsms", "2")).as(err.toString()).isZero();

    Cluster recorded = recorded(id);
    assertThat(recorded.hsms()).extracting(Hsm::tokenLabel).containsExactlyElementsOf(id.tokenLabels(2));
    assertThat(recorded.hsms()).allSatisfy(hsm -> {
      assertThat(hsm.state()).isEqualTo(HsmState.ACTIVE);
      assertThat(hsm.profile()).isEqualTo(TokenProfile.SOFTHSM2);
      assertThat(hsm.module()).isEqualTo(SoftHsmClusterExtension.modulePath().toAbsolutePath().normalize());
    });
    assertThat(recorded.trustAnchor().certificate().getBasicConstraints()).isNotNegative();
    assertThat(Files.readString(dir.resolve(id + ClusterFile.CERTIFICATE_SUFFIX)))
        .isEqualTo(recorded.trustAnchor().pem());
    try (Token token = Token.login(cluster.module(), id.tokenLabel(2), TokenProfile.SOFTHSM2,
        Pin.fromFile(kmsuserPinFile), SessionPoolConfig.defaults())) {
      assertThat(token.generateRandom(4)).as("the kmsuser PIN came from its file").hasSize(4);
    }
  }

  @Test
  void rerunningKeepsTheCertificateAndTheHsmIds() throws Exception {
    ClusterId id = ClusterId.random(random);
    assertThat(run("--cluster-id", id.toString())).as(err.toString()).isZero();
    Cluster first = recorded(id);
    String pem = Files.readString(dir.resolve(id + ClusterFile.CERTIFICATE_SUFFIX));

    assertThat(run("--cluster-id", id.toString())).as(err.toString()).isZero();

    assertThat(recorded(id)).isEqualTo(first);
    assertThat(Files.readString(dir.resolve(id + ClusterFile.CERTIFICATE_SUFFIX))).isEqualTo(pem);
  }

  @Test
  void aRunWithMoreHsmsJoinsThemAndCanResetKmsusersPinEverywhere() throws Exception {
    ClusterId id = ClusterId.random(random);
    assertThat(run("--cluster-id", id.toString(), "--hsms", "2")).as(err.toString()).isZero();
    Files.writeString(kmsuserPinFile, "ku-new-" + random.nextLong() + "\n");

    assertThat(run("--cluster-id", id.toString(), "--hsms", "3", "--reset-kmsuser-pin")).as(err.toString()).isZero();

    assertThat(recorded(id).hsms()).hasSize(3);
    for (int hsm = 1; hsm <= 3; hsm++) {
      try (Token token = Token.login(cluster.module(), id.tokenLabel(hsm), TokenProfile.SOFTHSM2,
          Pin.fromFile(kmsuserPinFile), SessionPoolConfig.defaults())) {
        assertThat(token.findAesKey(TrustedWrappingKey.NAME.label())).as("HSM %s joined the ceremony", hsm)
            .contains(TrustedWrappingKey.NAME);
      }
    }
  }

  @Test
  void fromBackupOfSharesTheCertificate() {
    ClusterId original = ClusterId.random(random);
    ClusterId restored = ClusterId.random(random);
    ClusterId unrelated = ClusterId.random(random);
    assertThat(run("--cluster-id", original.toString())).as(err.toString()).isZero();

    assertThat(run("--cluster-id", restored.toString(), "--from-backup-of", original.toString())).as(err.toString())
        .isZero();
    assertThat(run("--cluster-id", unrelated.toString())).as(err.toString()).isZero();

    assertThat(recorded(restored).sharesBackupHistoryWith(recorded(original))).isTrue();
    assertThat(recorded(unrelated).sharesBackupHistoryWith(recorded(original))).isFalse();
  }

  @Test
  void fromBackupOfAnUnknownClusterFailsClearlyAndCreatesNothing() {
    ClusterId restored = ClusterId.random(random);
    ClusterId unknown = ClusterId.random(random);

    assertThat(run("--cluster-id", restored.toString(), "--from-backup-of", unknown.toString())).isNotZero();

    assertThat(err.toString()).contains("IllegalArgumentException: cluster " + unknown + " is not in " + clustersFile);
    assertThat(cluster.module().tokenLabels()).doesNotContain(restored.tokenLabel(1));
    assertThat(clustersFile).doesNotExist();
  }

  @Test
  void noFileInTheDirectoryHoldsAPrivateKey() throws Exception {
    ClusterId original = ClusterId.random(random);
    assertThat(run("--cluster-id", original.toString())).as(err.toString()).isZero();
    assertThat(run("--cluster-id", ClusterId.random(random).toString(), "--from-backup-of", original.toString()))
        .as(err.toString()).isZero();

    try (Stream<Path> files = Files.walk(dir)) {
      assertThat(files.filter(Files::isRegularFile))
          .anyMatch(file -> file.getFileName().toString().endsWith(ClusterFile.CERTIFICATE_SUFFIX))
          .allSatisfy(file -> assertThat(new String(Files.readAllBytes(file), ISO_8859_1))
              .as(file.toString())
              .doesNotContain("PRIVATE KEY"));
    }
  }
}
