package dev.keyhold.kms.keystore;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.kms.cluster.Cluster;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A crash between generating a key's material and recording the key (a real service JVM halted there)
 * leaves no silent orphan: after a restart the interrupted CreateKey is rolled back, material and
 * record alike, when the store connects.
 */
class CreateKeyCrashTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;

  @Test
  void aCrashAfterTheMaterialLeavesNoOrphanAfterARestart() throws Exception {
    KeyStoreFixture fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    String store = fixture.open().createCustomKeyStore(fixture.createRequest("crashing", cluster));
    fixture.stop();

    assertThat(KeyStoreFixture.runInFreshJvm(CreateKeyCrashChild.class, "crash", data.toString(), store))
        .isEqualTo(CreateKeyCrashChild.HALTED);
    assertThat(KeyStoreFixture.runInFreshJvm(CreateKeyCrashChild.class, "restart", data.toString(), store))
        .as("no half-created key, no orphan").isZero();
  }

}
