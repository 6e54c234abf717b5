package dev.keyhold.app.operator;

import static dev.keyhold.app.operator.OperatorSite.awaitWithin;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateKeyResponse;

/**
 * Nodes die, and the service goes on: {@code kill -9} of the node that holds the background role,
 * under 8 threads of load on the two others, fails none of their calls, and a survivor takes the
 * role, as its {@code /health} shows; two nodes creating keys at once never roll back each other's
 * acknowledged keys.
 */
class NodeFailoverTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  private static final String ROLE = "keyhold_background";

  @TempDir Path work;

  @Test
  void killingTheRoleHolderFailsNoCallOnTheOthersAndASurvivorTakesItsRole() throws Exception {
    try (OperatorSite site = new OperatorSite(softhsm, work)) {
      OperatorSite.Node holder = site.start("node-1");
      awaitWithin(Duration.ofSeconds(30), () -> healthOf(holder).contains(ROLE));
      OperatorSite.Node second = site.start("node-2");
      OperatorSite.Node third = site.start("node-3");
      site.connectMainStore(holder);
      String keyId = holder.client().createKey(r -> r.description("load")).keyMetadata().keyId();
      List<KmsClient> survivors = List.of(second.client(), third.client());
      for (KmsClient client : survivors) {
        ThreeNodesTest.awaitEncrypt(client, keyId); // each has joined the store
      }

      Load load = new Load(survivors, 8, client -> {
        SdkBytes blob = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("load")))
            .ciphertextBlob();
        client.decrypt(r -> r.ciphertextBlob(blob));
        return 2;
      });
      Thread.sleep(2000);
      holder.kill();
      awaitWithin(Duration.ofSeconds(30), () -> healthOf(second).contains(ROLE) || healthOf(third).contains(ROLE));
      Thread.sleep(2000);
      List<String> failures = load.stop();

      assertThat(failures).isEmpty();
      assertThat(load.calls()).isPositive();
      System.out.printf("%d calls on the survivors while the role holder was killed; none failed%n", load.calls());
    }
  }

  @Test
  void twoNodesCreatingKeysAtOnceRollBackNoAcknowledgedKey() throws Exception {
    try (OperatorSite site = new OperatorSite(softhsm, work)) {
      OperatorSite.Node first = site.start("node-1");
      OperatorSite.Node second = site.start("node-2");
      site.connectMainStore(first);
      ThreeNodesTest.awaitEncrypt(second.client(),
          first.client().createKey(r -> r.description("joined")).keyMetadata().keyId());

      Set<String> acknowledged = ConcurrentHashMap.newKeySet();
      ExecutorService creators = Executors.newFixedThreadPool(4);
      List<Future<?>> threads = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        KmsClient client = (t % 2 == 0 ? first : second).client();
        threads.add(creators.submit(() -> {
          for (int i = 0; i < 10; i++) {
            CreateKeyResponse created = client.createKey(r -> r.description("concurrent"));
            acknowledged.add(created.keyMetadata().keyId());
          }
          return null;
        }));
      }
      for (Future<?> thread : threads) {
        thread.get(120, TimeUnit.SECONDS);
      }
      creators.shutdown();
      Thread.sleep(6000); // a reconciler pass, which runs the rollback, on the role holder

      for (OperatorSite.Node node : List.of(first, second)) {
        KmsClient client = node.client();
        for (String keyId : acknowledged) {
          assertThat(client.describeKey(r -> r.keyId(keyId)).keyMetadata().keyStateAsString())
              .as("%s on %s", keyId, node.name()).isEqualTo("Enabled");
        }
      }
      assertThat(acknowledged).hasSize(40);
    }
  }

  private static String healthOf(OperatorSite.Node node) {
    try {
      return node.health();
    } catch (Exception e) {
      return "";
    }
  }
}
