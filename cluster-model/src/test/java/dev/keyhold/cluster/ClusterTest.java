package dev.keyhold.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.base.Strings;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class ClusterTest {
  private static final Path SOFTHSM = Path.of("/usr/lib/softhsm/libsofthsm2.so");
  private static final TrustAnchor ANCHOR = TestCertificates.anchor("cluster-abcdefghijk customer CA");

  private static Hsm hsm(String id, HsmState state) {
    return Hsm.of(id, SOFTHSM, "cluster-abcdefghijk/" + id.substring(4, 8), TokenProfile.SOFTHSM2, state);
  }

  @ParameterizedTest
  @ValueSource(strings = {"hsm-abcdefghijk", "hsm-abcdefghijklmnop", "hsm-234567abcde"})
  void acceptsCloudHsmStyleHsmIds(String id) {
    assertThat(hsm(id, HsmState.ACTIVE).hsmId()).isEqualTo(id);
  }

  @ParameterizedTest
  @ValueSource(strings = {"hsm-abcdefghij", "hsm-abcdefghijklmnopq", "hsm-ABCDEFGHIJK", "hsm-abcdefghij1",
      "abcdefghijk", "HSM-abcdefghijk", "hsm-abcdefghijk "})
  void rejectsMalformedHsmIds(String id) {
    assertThatThrownBy(() -> Hsm.of(id, SOFTHSM, "label", TokenProfile.SOFTHSM2, HsmState.ACTIVE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("an HSM id is 'hsm-' and 11 to 16 characters of a-z and 2-7: '" + id + "'");
  }

  @Test
  void rejectsARelativeModulePath() {
    assertThatThrownBy(() -> Hsm.of("hsm-abcdefghijk", Path.of("libsofthsm2.so"), "label", TokenProfile.SOFTHSM2,
        HsmState.ACTIVE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("the PKCS#11 module of hsm-abcdefghijk must be an absolute path: 'libsofthsm2.so'");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " hsm1", "hsm1 ", "123456789012345678901234567890123"})
  void rejectsLabelsNoTokenCanCarry(String label) {
    assertThatThrownBy(() -> Hsm.of("hsm-abcdefghijk", SOFTHSM, label, TokenProfile.SOFTHSM2, HsmState.ACTIVE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("the token label of hsm-abcdefghijk must have 1 to 32 characters and no outer blanks: '"
            + label + "'");
  }

  @Test
  void acceptsA32CharacterLabel() {
    String label = Strings.repeat("x", 32);
    assertThat(Hsm.of("hsm-abcdefghijk", SOFTHSM, label, TokenProfile.SOFTHSM2, HsmState.ACTIVE).tokenLabel())
        .isEqualTo(label);
  }

  @ParameterizedTest
  @EnumSource(HsmState.class)
  void onlyActiveHsmsAreActive(HsmState state) {
    assertThat(hsm("hsm-abcdefghijk", state).isActive()).isEqualTo(state == HsmState.ACTIVE);
  }

  @Test
  void activeHsmsKeepsOrderAndSkipsTheOthers() {
    Hsm first = hsm("hsm-aaaaaaaaaaa", HsmState.ACTIVE);
    Hsm degraded = hsm("hsm-bbbbbbbbbbb", HsmState.DEGRADED);
    Hsm creating = hsm("hsm-ccccccccccc", HsmState.CREATE_IN_PROGRESS);
    Hsm last = hsm("hsm-ddddddddddd", HsmState.ACTIVE);

    Cluster cluster = Cluster.of("cluster-abcdefghijk", List.of(first, degraded, creating, last), ANCHOR);

    assertThat(cluster.hsms()).containsExactly(first, degraded, creating, last);
    assertThat(cluster.activeHsms()).containsExactly(first, last);
  }

  @ParameterizedTest
  @ValueSource(strings = {"cluster-abcdefghij", "cluster-abcdefghijklmnopq", "cluster-abcdefghij8", "cluster-",
      "Cluster-abcdefghijk", "abcdefghijk"})
  void rejectsMalformedClusterIds(String id) {
    assertThatThrownBy(() -> Cluster.of(id, List.of(), ANCHOR))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("a cluster id is 'cluster-' and 11 to 16 characters of a-z and 2-7: '" + id + "'");
  }

  @Test
  void acceptsAClusterWithoutHsms() {
    assertThat(Cluster.of("cluster-abcdefghijklmnop", List.of(), ANCHOR).activeHsms()).isEmpty();
  }

  @Test
  void rejectsAnHsmIdTwiceInOneCluster() {
    List<Hsm> twice = List.of(hsm("hsm-aaaaaaaaaaa", HsmState.ACTIVE), hsm("hsm-aaaaaaaaaaa", HsmState.DELETED));

    assertThatThrownBy(() -> Cluster.of("cluster-abcdefghijk", twice, ANCHOR))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("HSM id 'hsm-aaaaaaaaaaa' appears twice in cluster cluster-abcdefghijk");
  }

  @Test
  void clustersWithTheSameCertificateShareBackupHistory() {
    Cluster original = Cluster.of("cluster-aaaaaaaaaaa", List.of(hsm("hsm-aaaaaaaaaaa", HsmState.ACTIVE)), ANCHOR);
    Cluster restored = Cluster.of("cluster-bbbbbbbbbbb", List.of(),
        TrustAnchor.fromPem(ANCHOR.pem().replace("\n", "\r\n")));
    Cluster unrelated = Cluster.of("cluster-ccccccccccc", List.of(),
        TestCertificates.anchor("cluster-abcdefghijk customer CA"));

    assertThat(original.sharesBackupHistoryWith(restored)).isTrue();
    assertThat(restored.sharesBackupHistoryWith(original)).isTrue();
    assertThat(original.sharesBackupHistoryWith(original)).isTrue();
    assertThat(original.sharesBackupHistoryWith(unrelated)).as("same subject, other certificate").isFalse();
    assertThat(unrelated.sharesBackupHistoryWith(restored)).isFalse();
  }

  @Test
  void valuesAreEqualByContent() {
    Cluster cluster = Cluster.of("cluster-abcdefghijk", List.of(hsm("hsm-aaaaaaaaaaa", HsmState.ACTIVE)), ANCHOR);

    assertThat(Cluster.of("cluster-abcdefghijk", List.of(hsm("hsm-aaaaaaaaaaa", HsmState.ACTIVE)), ANCHOR))
        .isEqualTo(cluster)
        .hasSameHashCodeAs(cluster);
    assertThat(Cluster.of("cluster-abcdefghijk", List.of(hsm("hsm-aaaaaaaaaaa", HsmState.DEGRADED)), ANCHOR))
        .isNotEqualTo(cluster);
  }
}
