package dev.keyhold.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A clusters file re-read when it changes; a broken one reported, and the clusters before kept. */
class ClusterFileWatcherTest {
  private static final Path SOFTHSM = Path.of("/usr/lib/softhsm/libsofthsm2.so");
  private static final Duration EVERY = Duration.ofMillis(20);

  @TempDir Path directory;

  @Test
  void aChangedFileIsReadAgainAndABrokenOneKeepsTheClustersBefore() throws Exception {
    Path file = directory.resolve("clusters.json");
    ClusterFile.write(file, ClusterRegistry.of(List.of(cluster("cluster-aaaaaaaaaaa", "hsm-aaaaaaaaaaa"))));

    try (ClusterFileWatcher watcher = ClusterFileWatcher.watch(file, EVERY)) {
      assertThat(ids(watcher)).containsExactly("cluster-aaaaaaaaaaa");

      ClusterFile.write(file, watcher.current().with(cluster("cluster-bbbbbbbbbbb", "hsm-bbbbbbbbbbb")));
      awaitWithin(() -> ids(watcher).size() == 2);
      assertThat(ids(watcher)).containsExactly("cluster-aaaaaaaaaaa", "cluster-bbbbbbbbbbb");

      Files.writeString(file, "{\"clusters\": [ broken");
      Thread.sleep(EVERY.multipliedBy(10).toMillis());
      assertThat(ids(watcher)).containsExactly("cluster-aaaaaaaaaaa", "cluster-bbbbbbbbbbb");

      ClusterFile.write(file, ClusterRegistry.of(List.of(cluster("cluster-ccccccccccc", "hsm-ccccccccccc"))));
      awaitWithin(() -> ids(watcher).equals(List.of("cluster-ccccccccccc")));
    }
  }

  @Test
  void aServiceDoesNotStartOnABrokenFile() throws Exception {
    Path file = Files.writeString(directory.resolve("clusters.json"), "not json");

    assertThatThrownBy(() -> ClusterFileWatcher.watch(file, EVERY)).isInstanceOf(InvalidClusterFileException.class);
  }

  private static Cluster cluster(String clusterId, String hsmId) {
    return Cluster.of(clusterId, List.of(Hsm.of(hsmId, SOFTHSM, clusterId + "/hsm1", TokenProfile.SOFTHSM2,
        HsmState.ACTIVE)), TestCertificates.anchor(clusterId));
  }

  private static List<String> ids(Clusters clusters) {
    return clusters.current().all().stream().map(Cluster::clusterId).toList();
  }

  private static void awaitWithin(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("re-read in time").isLessThan(deadline);
      Thread.sleep(10);
    }
  }
}
