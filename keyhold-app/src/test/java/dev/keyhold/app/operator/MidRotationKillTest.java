package dev.keyhold.app.operator;

import static dev.keyhold.app.operator.OperatorSite.awaitWithin;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;
import software.amazon.awssdk.services.kms.model.CustomKeyStoresListEntry;

/**
 * A node dies in the middle of a kmsuser password rotation, and nobody is locked out: at each chosen
 * step between two durable steps of the rotation, the connecting node is stopped there and killed; a
 * survivor finishes the connect from that step, every survivor serves the store's keys, and the
 * killed node, restarted, joins the store. {@code CrashSafeRotationTest} covers every step, one process at a time.
 */
class MidRotationKillTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);

  @TempDir Path work;

  @Test
  void survivorsFinishARotationThatAKilledNodeLeftAndTheRestartedNodeJoins() throws Exception {
    try (OperatorSite site = new OperatorSite(softhsm, work)) {
      OperatorSite.Node holder = site.start("node-1");
      OperatorSite.Node second = site.start("node-2");
      String store = site.connectMainStore(holder);
      String keyId = holder.client().createKey(r -> r.description("rotated under")).keyMetadata().keyId();
      SdkBytes blob = ThreeNodesTest.awaitEncrypt(second.client(), keyId);
      List<KmsClient> survivors = List.of(holder.client(), second.client());
      String first = site.cluster.hsms().get(0).hsmId();
      String last = site.cluster.hsms().get(1).hsmId();

      // Before the first HSM's C_SetPIN; after it, before its record (the one unknown HSM); after the last HSM's.
      for (String step : List.of("changing " + first, "pin-changed " + first, "pin-changed " + last)) {
        disconnect(holder.client(), store, survivors);
        killMidRotation(site, step, store);
        long killed = System.nanoTime();

        for (KmsClient survivor : survivors) {
          awaitWithin(Duration.ofSeconds(60), () -> stateOf(survivor, store).connectionState()
              == ConnectionStateType.CONNECTED);
          assertThat(ThreeNodesTest.awaitDecrypt(survivor, blob)).as("after a kill at %s", step)
              .isEqualTo("across nodes");
        }
        System.out.printf("node-3 killed at \"%s\"; both survivors served the store %d ms later%n", step,
            (System.nanoTime() - killed) / 1_000_000);
        OperatorSite.Node restarted = site.start("node-3");
        assertThat(ThreeNodesTest.awaitDecrypt(restarted.client(), blob)).isEqualTo("across nodes");
        restarted.stop();
      }
      assertThat(stateOf(second.client(), store).connectionErrorCodeAsString()).isNull();
    }
  }

  /**
   * Has a node of its own connect the store and kills it at {@code step}. A survivor that takes the
   * abandoned-connect sweep first connects the store whole; then the round is run again.
   */
  private static void killMidRotation(OperatorSite site, String step, String store) throws Exception {
    for (int attempt = 0; attempt < 3; attempt++) {
      OperatorSite.Node pausing = site.startPausingAt(step, "node-3");
      pausing.client().connectCustomKeyStore(r -> r.customKeyStoreId(store));
      awaitWithin(Duration.ofSeconds(60), () -> pausing.printed("paused at " + step)
          || stateOf(pausing.client(), store).connectionState() == ConnectionStateType.CONNECTED);
      boolean paused = pausing.printed("paused at " + step);
      pausing.kill();
      if (paused) {
        return;
      }
      disconnect(pausing.client(), store, List.of());
    }
    throw new AssertionError("a survivor took every connect over before node-3 reached " + step);
  }

  private static void disconnect(KmsClient client, String store, List<KmsClient> everyone) throws Exception {
    client.disconnectCustomKeyStore(r -> r.customKeyStoreId(store));
    for (KmsClient node : everyone) {
      awaitWithin(Duration.ofSeconds(10), () -> stateOf(node, store).connectionState()
          == ConnectionStateType.DISCONNECTED);
    }
  }

  private static CustomKeyStoresListEntry stateOf(KmsClient client, String store) {
    return client.describeCustomKeyStores(r -> r.customKeyStoreId(store)).customKeyStores().get(0);
  }
}
