package dev.keyhold.softhsm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Files;
import java.security.SecureRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ClusterProvisionerTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  @Test
  void initialisesOneTokenPerHsmWithTheLabelScheme() {
    assertThat(cluster.module().tokenLabels())
        .contains(cluster.clusterId() + "/hsm1", cluster.clusterId() + "/hsm2")
        .allMatch(label -> label.matches(cluster.clusterId() + "/hsm[0-9]+"));
    assertThat(cluster.tokenDirectory()).isNotEqualTo(java.nio.file.Path.of("/var/lib/softhsm/tokens"));
  }

  @Test
  void setsTheKmsuserPinOnEveryToken() {
    for (int hsm = 1; hsm <= 2; hsm++) {
      try (Token token = cluster.login(hsm)) {
        assertThat(token.generateRandom(8)).hasSize(8);
      }
    }
  }

  @Test
  void rerunningNeverWipesATokenAndOnlyAddsMissingHsms() {
    AesKey key = AesKey.of("survives-reprovisioning", new byte[] {7});
    try (Token token = cluster.login(1)) {
      token.generateAesKey(AesKeyTemplate.builder(key).build());
    }
    Pin otherPin = Pin.random(new SecureRandom(), 12);

    var created = new ClusterProvisioner(cluster.module()).provision(cluster.clusterId(), 3, cluster.soPin(), otherPin);

    assertThat(created).containsExactly(cluster.clusterId() + "/hsm3");
    try (Token token = cluster.login(1)) {
      assertThat(token.findAesKey("survives-reprovisioning")).contains(key);
    }
    assertThat(new ClusterProvisioner(cluster.module()).provision(cluster.clusterId(), 3, cluster.soPin(), otherPin))
        .isEmpty();
    assertThatThrownBy(() -> cluster.login(3))
        .as("HSM 3 was initialised with the other PIN")
        .isInstanceOf(BadCredentialsException.class);
    Token third = Token.login(cluster.module(), cluster.clusterId().tokenLabel(3), TokenProfile.SOFTHSM2, otherPin,
        SessionPoolConfig.defaults());
    assertThat(third.findAesKey(TrustedWrappingKey.NAME.label())).as("joined by the trust ceremony")
        .contains(TrustedWrappingKey.NAME);
    third.close();
  }

  @Test
  void softHsmDirectoryCreatesItsConfigOnce() throws Exception {
    SoftHsmDirectory directory = SoftHsmDirectory.at(Files.createTempDirectory("softhsm-dir"));
    assertThat(directory.create()).isTrue();
    String written = Files.readString(directory.configFile());
    assertThat(written).contains("directories.tokendir = " + directory.tokenDirectory());
    assertThat(directory.create()).isFalse();
    assertThat(Files.readString(directory.configFile())).isEqualTo(written);
  }

  @Test
  void clusterIdsFollowTheCloudHsmFormat() {
    ClusterId id = ClusterId.random(new SecureRandom());
    assertThat(id.toString()).matches("cluster-[a-z2-7]{11}");
    assertThat(id.tokenLabel(12).length()).isLessThanOrEqualTo(32);
    assertThat(ClusterId.of("cluster-abcdefghijklmnop").tokenLabel(99)).hasSizeLessThanOrEqualTo(32);
    assertThatThrownBy(() -> ClusterId.of("cluster-UPPER")).isInstanceOf(IllegalArgumentException.class);
  }
}
