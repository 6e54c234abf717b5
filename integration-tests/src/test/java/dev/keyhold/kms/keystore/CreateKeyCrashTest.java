package dev.keyhold.kms.keystore;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.kms.cluster.Cluster;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

    assertThat(run("crash", data.toString(), store)).isEqualTo(CreateKeyCrashChild.HALTED);
    assertThat(run("restart", data.toString(), store)).as("no half-created key, no orphan").isZero();
  }

  private static int run(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), CreateKeyCrashChild.class.getName()));
    command.addAll(List.of(args));
    Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.waitFor(120, TimeUnit.SECONDS)).isTrue();
    System.out.println(String.join(" ", args) + " ->\n" + output);
    return child.exitValue();
  }
}
