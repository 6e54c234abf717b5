package dev.keyhold.kms.key;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A crash in the middle of CreateKey (a real service JVM halted after recording its intent, after
 * generating the material, after its first replica on a 3-HSM cluster, or just before enabling the key) leaves no silent orphan and loses no key: after a
 * restart the interrupted CreateKey is rolled back on every HSM, material and record alike, when the
 * store connects, and the keys created before it are whole.
 */
class CreateKeyCrashTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;

  @ParameterizedTest
  @MethodSource("crashPoints")
  void aCrashMidCreateKeyIsRolledBackOnRestartAndNoOtherKeyIsLost(String step, int hsms) throws Exception {
    KeyStoreFixture fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(hsms);
    String store = fixture.open().createCustomKeyStore(fixture.createRequest("crashing", cluster));
    fixture.stop();

    assertThat(KeyStoreFixture.runInFreshJvm(CreateKeyCrashChild.class, "crash", data.toString(), store, step))
        .isEqualTo(CreateKeyCrashChild.HALTED);
    assertThat(KeyStoreFixture.runInFreshJvm(CreateKeyCrashChild.class, "restart", data.toString(), store))
        .as("no half-created key, no orphan, every earlier key on every HSM").isZero();
  }

  /** Each step before enabling, on two HSMs; after the first replica on three, so that one is still to come. */
  static Stream<Arguments> crashPoints() {
    return CreateKeySteps.beforeEnabled().stream().map(step -> Arguments.of(step, step.equals("replicated-to") ? 3 : 2));
  }

}
