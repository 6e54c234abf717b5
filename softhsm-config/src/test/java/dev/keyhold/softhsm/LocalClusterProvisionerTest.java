package dev.keyhold.softhsm;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.cluster.TrustAnchor;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

class LocalClusterProvisionerTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  @TempDir Path dir;
  private Path clustersFile;
  private LocalClusterProvisioner provisioner;
  private final SecureRandom random = new SecureRandom();

  @BeforeEach
  void createProvisioner() {
    clustersFile = dir.resolve(LocalClusterProvisioner.CLUSTERS_FILE);
    provisioner = new LocalClusterProvisioner(cluster.module(), clustersFile);
  }

  private LocalClusterProvisioner.Outcome provision(ClusterId id, int hsms, Optional<ClusterId> fromBackupOf) {
    return provisioner.provision(id, hsms, fromBackupOf, cluster.soPin(), cluster.kmsuserPin());
  }

  private Cluster recorded(ClusterId id) {
    return ClusterFile.read(clustersFile).find(id.toString()).orElseThrow();
  }

  @Test
  void recordsTheClusterWithItsActiveHsmsAndTrustAnchor() throws Exception {
    LocalClusterProvisioner.Outcome outcome = provision(cluster.clusterId(), 2, Optional.empty());

    assertThat(outcome.initialisedTokens()).as("the extension made the tokens").isEmpty();
    assertThat(outcome.trustAnchorIssued()).isTrue();
    Cluster recorded = recorded(cluster.clusterId());
    assertThat(recorded).isEqualTo(outcome.cluster());
    assertThat(recorded.hsms()).hasSize(2).allSatisfy(hsm -> {
      assertThat(hsm.hsmId()).matches("hsm-[a-z2-7]{11}");
      assertThat(hsm.module()).isEqualTo(SoftHsmClusterExtension.modulePath().toAbsolutePath().normalize());
      assertThat(hsm.profile()).isEqualTo(TokenProfile.SOFTHSM2);
      assertThat(hsm.state()).isEqualTo(HsmState.ACTIVE);
    });
    assertThat(recorded.hsms()).extracting(Hsm::tokenLabel).containsExactlyElementsOf(cluster.tokenLabels());
    assertThat(recorded.hsms()).extracting(Hsm::hsmId).doesNotHaveDuplicates();
    assertThat(recorded.activeHsms()).isEqualTo(recorded.hsms());
    assertThat(recorded.trustAnchor().certificate().getSubjectX500Principal().getName())
        .isEqualTo("CN=" + cluster.clusterId() + " customer CA");
    Path certificate = dir.resolve(cluster.clusterId() + "-customerCA.crt");
    assertThat(recorded.trustAnchor().matchesPem(Files.readString(certificate))).isTrue();
  }

  @Test
  void rerunningKeepsTheCertificateAndTheHsmIds() throws Exception {
    Cluster first = provision(cluster.clusterId(), 2, Optional.empty()).cluster();
    Path certificate = dir.resolve(cluster.clusterId() + "-customerCA.crt");
    String pem = Files.readString(certificate);

    LocalClusterProvisioner.Outcome again = provision(cluster.clusterId(), 2, Optional.empty());

    assertThat(again.trustAnchorIssued()).isFalse();
    assertThat(again.initialisedTokens()).isEmpty();
    assertThat(recorded(cluster.clusterId())).isEqualTo(first);
    assertThat(Files.readString(certificate)).isEqualTo(pem);
  }

  @Test
  void hsmIdsDependOnTheTokenLabelAlone() {
    String id = LocalClusterProvisioner.hsmId("cluster-abcdefghijk/hsm1");

    assertThat(id).matches("hsm-[a-z2-7]{11}").isEqualTo(LocalClusterProvisioner.hsmId("cluster-abcdefghijk/hsm1"));
    assertThat(LocalClusterProvisioner.hsmId("cluster-abcdefghijk/hsm2")).isNotEqualTo(id);
  }

  @Test
  void fromBackupOfSharesTheCertificateOfTheOriginal() throws Exception {
    Cluster original = provision(cluster.clusterId(), 2, Optional.empty()).cluster();
    ClusterId restoredId = ClusterId.random(random);

    LocalClusterProvisioner.Outcome restored = provision(restoredId, 1, Optional.of(cluster.clusterId()));

    assertThat(restored.trustAnchorIssued()).isFalse();
    assertThat(restored.initialisedTokens()).containsExactly(restoredId.tokenLabel(1));
    assertThat(recorded(restoredId).sharesBackupHistoryWith(recorded(cluster.clusterId()))).isTrue();
    assertThat(recorded(cluster.clusterId())).as("the original is untouched").isEqualTo(original);
    assertThat(Files.readString(dir.resolve(restoredId + "-customerCA.crt")))
        .isEqualTo(Files.readString(dir.resolve(cluster.clusterId() + "-customerCA.crt")));
    assertThat(provision(restoredId, 1, Optional.of(cluster.clusterId())).initialisedTokens())
        .as("idempotent too").isEmpty();
  }

  @Test
  void aNewClusterDoesNotShareBackupHistory() {
    provision(cluster.clusterId(), 2, Optional.empty());
    ClusterId other = ClusterId.random(random);

    provision(other, 1, Optional.empty());

    assertThat(recorded(other).sharesBackupHistoryWith(recorded(cluster.clusterId()))).isFalse();
  }

  @Test
  void fromBackupOfAClusterNotInTheFileFailsBeforeTouchingAnything() {
    ClusterId restoredId = ClusterId.random(random);
    ClusterId unknown = ClusterId.random(random);

    assertThatThrownBy(() -> provision(restoredId, 1, Optional.of(unknown)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cluster " + unknown + " is not in " + clustersFile + ", so there is no backup of it to restore "
            + restoredId + " from");
    assertThat(cluster.module().tokenLabels()).doesNotContain(restoredId.tokenLabel(1));
    assertThat(clustersFile).doesNotExist();
  }

  @Test
  void anExistingClusterCannotTakeAnotherClustersBackupHistory() {
    provision(cluster.clusterId(), 2, Optional.empty());
    ClusterId other = ClusterId.random(random);
    provision(other, 1, Optional.empty());

    assertThatThrownBy(() -> provision(other, 1, Optional.of(cluster.clusterId())))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cluster " + other + " is already in " + clustersFile + " with a trust anchor of its own; it does "
            + "not share backup history with " + cluster.clusterId());
    assertThatThrownBy(() -> provision(other, 1, Optional.of(other)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cluster " + other + " cannot be restored from a backup of itself");
  }

  @Test
  void leavesOtherClustersInTheFileAsTheyAre() throws Exception {
    ClusterId cloudId = ClusterId.random(random);
    Cluster cloud = Cluster.of(cloudId.toString(), List.of(
        Hsm.of("hsm-abcdefghijk", Path.of("/opt/cloudhsm/lib/libcloudhsm_pkcs11.so"), "hsm1",
            TokenProfile.AWS_CLOUDHSM, HsmState.DEGRADED)),
        TrustAnchor.of(TrustAnchorAuthority.create(cloudId.toString())));
    ClusterFile.write(clustersFile, ClusterRegistry.of(List.of(cloud)));

    provision(cluster.clusterId(), 2, Optional.empty());

    assertThat(ClusterFile.read(clustersFile).all()).hasSize(2).first().isEqualTo(cloud);
  }

  @Test
  void keepsHsmsRecordedEarlierWhenAskedForFewer() {
    Cluster three = provision(cluster.clusterId(), 3, Optional.empty()).cluster();

    provision(cluster.clusterId(), 2, Optional.empty());

    assertThat(recorded(cluster.clusterId())).isEqualTo(three);
    assertThat(three.hsms()).extracting(Hsm::tokenLabel).containsExactlyElementsOf(cluster.clusterId().tokenLabels(3));
  }

  @Test
  void theCaPrivateKeyIsWrittenNowhere() throws Exception {
    provision(cluster.clusterId(), 2, Optional.empty());
    provision(ClusterId.random(random), 1, Optional.of(cluster.clusterId()));
    provision(ClusterId.random(random), 1, Optional.empty());

    for (Path root : List.of(dir, cluster.tokenDirectory())) {
      try (Stream<Path> files = Files.walk(root)) {
        assertThat(files.filter(Files::isRegularFile))
            .isNotEmpty()
            .allSatisfy(file -> assertThat(new String(Files.readAllBytes(file), ISO_8859_1))
                .as(file.toString())
                .doesNotContain("PRIVATE KEY"));
      }
    }
  }

  @Test
  void pinsStayOutOfTheClustersFile() throws Exception {
    provision(cluster.clusterId(), 2, Optional.empty());
    String written = Files.readString(clustersFile);

    for (Pin pin : List.of(cluster.soPin(), cluster.kmsuserPin())) {
      assertThat(pin.appearsIn(written)).isFalse();
    }
  }
}
