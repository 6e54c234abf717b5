package dev.keyhold.kms.keystore;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rotation through the CloudHSM CLI survives a crash between any two of its steps, as the C_SetPIN
 * one does ({@link CrashSafeRotationTest}): a service JVM connecting a store over the CloudHSM stand-in
 * is halted at each of the three steps of the CLI's password change in turn (changing, pin-changed,
 * recorded; every step of the rotation, pending-written and promoted too, with
 * {@code -Dkeyhold.test.allRotationSteps=true}), and a restarted service connects the store with no
 * lockout, the password the store knows opening the cluster. One store, crashed and restarted step
 * after step.
 */
class CloudHsmRotationCrashTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;

  @Test
  void aCrashAtAnyStepOfACliRotationNeverLocksKmsuserOut() throws Exception {
    KeyStoreFixture fixture = new KeyStoreFixture(softhsm, data);
    KeyStoreFixture.StandInCluster standIn = fixture.newCloudHsmCluster(2);
    Cluster cluster = standIn.cluster();
    String store = fixture.open().createCustomKeyStore(fixture.createRequest("cli-crash", cluster));
    fixture.stop(); // the service processes below own the data directory
    String id = cluster.clusterId();

    // pending-written and promoted are the C_SetPIN rotation's steps too, crashed at by CrashSafeRotationTest;
    // the whole list runs with -Dkeyhold.test.allRotationSteps=true (some 40 s more).
    List<String> steps = Boolean.getBoolean("keyhold.test.allRotationSteps")
        ? List.of("pending-written", "changing " + id, "pin-changed " + id, "recorded " + id, "promoted")
        : List.of("changing " + id, "pin-changed " + id, "recorded " + id);
    for (String step : steps) {
      assertThat(KeyStoreFixture.runInFreshJvm(RotationCrashChild.class, "crash", data.toString(), store, step))
          .as("the service died at '%s'", step).isEqualTo(RotationCrashChild.HALTED);
      assertThat(KeyStoreFixture.runInFreshJvm(RotationCrashChild.class, "restart", data.toString()))
          .as("after dying at '%s', a restart connects and the known password opens the cluster", step).isZero();
      assertThat(standIn.standIn().failedLogins(KeyStoreConnections.KMSUSER)).as("after '%s'", step).isZero();
    }
  }
}
