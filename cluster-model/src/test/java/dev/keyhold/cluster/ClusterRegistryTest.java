package dev.keyhold.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClusterRegistryTest {
  private static final Path SOFTHSM = Path.of("/usr/lib/softhsm/libsofthsm2.so");
  private static final Path CLOUDHSM = Path.of("/opt/cloudhsm/lib/libcloudhsm_pkcs11.so");
  private static final TrustAnchor ANCHOR = TestCertificates.anchor("test CA");

  private static Cluster cluster(String id, Hsm... hsms) {
    return Cluster.of(id, List.of(hsms), ANCHOR);
  }

  private static Hsm softHsm(String id, String label) {
    return Hsm.of(id, SOFTHSM, label, TokenProfile.SOFTHSM2, HsmState.ACTIVE);
  }

  @Test
  void findsClustersByIdAndKeepsTheirOrder() {
    Cluster b = cluster("cluster-bbbbbbbbbbb", softHsm("hsm-bbbbbbbbbbb", "b/hsm1"));
    Cluster a = cluster("cluster-aaaaaaaaaaa", softHsm("hsm-aaaaaaaaaaa", "a/hsm1"));

    ClusterRegistry registry = ClusterRegistry.of(List.of(b, a));

    assertThat(registry.all()).containsExactly(b, a);
    assertThat(registry.find("cluster-aaaaaaaaaaa")).contains(a);
    assertThat(registry.find("cluster-ccccccccccc")).isEmpty();
    assertThat(ClusterRegistry.empty().all()).isEmpty();
  }

  @Test
  void withReplacesInPlaceOrAppends() {
    Cluster a = cluster("cluster-aaaaaaaaaaa", softHsm("hsm-aaaaaaaaaaa", "a/hsm1"));
    Cluster b = cluster("cluster-bbbbbbbbbbb");
    Cluster c = cluster("cluster-ccccccccccc");
    ClusterRegistry registry = ClusterRegistry.of(List.of(a, b));
    Cluster grownA = cluster("cluster-aaaaaaaaaaa", softHsm("hsm-aaaaaaaaaaa", "a/hsm1"),
        softHsm("hsm-aaaaaaaaaa2", "a/hsm2"));

    assertThat(registry.with(grownA).all()).containsExactly(grownA, b);
    assertThat(registry.with(c).all()).containsExactly(a, b, c);
    assertThat(registry.all()).as("unchanged").containsExactly(a, b);
  }

  @Test
  void withoutRemovesOneClusterAndIgnoresUnknownIds() {
    Cluster a = cluster("cluster-aaaaaaaaaaa");
    Cluster b = cluster("cluster-bbbbbbbbbbb");
    ClusterRegistry registry = ClusterRegistry.of(List.of(a, b));

    assertThat(registry.without("cluster-aaaaaaaaaaa").all()).containsExactly(b);
    assertThat(registry.without("cluster-ccccccccccc")).isEqualTo(registry);
    assertThat(registry.all()).as("unchanged").containsExactly(a, b);
  }

  @Test
  void rejectsAClusterIdTwice() {
    List<Cluster> twice = List.of(cluster("cluster-aaaaaaaaaaa"), cluster("cluster-aaaaaaaaaaa"));

    assertThatThrownBy(() -> ClusterRegistry.of(twice))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cluster id 'cluster-aaaaaaaaaaa' appears twice");
  }

  @Test
  void rejectsAnHsmIdInTwoClusters() {
    Cluster a = cluster("cluster-aaaaaaaaaaa", softHsm("hsm-sssssssssss", "a/hsm1"));
    Cluster b = cluster("cluster-bbbbbbbbbbb", softHsm("hsm-sssssssssss", "b/hsm1"));

    assertThatThrownBy(() -> ClusterRegistry.of(List.of(a, b)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("HSM id 'hsm-sssssssssss' appears in cluster cluster-aaaaaaaaaaa "
            + "and in cluster cluster-bbbbbbbbbbb");
  }

  @Test
  void rejectsOneTokenInTwoClusters() {
    Cluster a = cluster("cluster-aaaaaaaaaaa", softHsm("hsm-aaaaaaaaaaa", "shared"));
    Cluster b = cluster("cluster-bbbbbbbbbbb", softHsm("hsm-bbbbbbbbbbb", "shared"));

    assertThatThrownBy(() -> ClusterRegistry.of(List.of(a, b)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("token 'shared' of module /usr/lib/softhsm/libsofthsm2.so belongs to cluster cluster-aaaaaaaaaaa "
            + "and to cluster cluster-bbbbbbbbbbb (hsm-bbbbbbbbbbb); a token holds one cluster's keys");
  }

  @Test
  void allowsTheSameLabelInAnotherModuleAndOneSlotForAllHsmsOfACloudHsmCluster() {
    Cluster local = cluster("cluster-aaaaaaaaaaa", softHsm("hsm-aaaaaaaaaaa", "hsm1"));
    Cluster cloud = cluster("cluster-bbbbbbbbbbb",
        Hsm.of("hsm-bbbbbbbbbbb", CLOUDHSM, "hsm1", TokenProfile.AWS_CLOUDHSM, HsmState.ACTIVE),
        Hsm.of("hsm-ccccccccccc", CLOUDHSM, "hsm1", TokenProfile.AWS_CLOUDHSM, HsmState.ACTIVE));

    assertThat(ClusterRegistry.of(List.of(local, cloud)).all()).containsExactly(local, cloud);
  }
}
