package dev.keyhold.shims;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shims compile, and the outage markers are the files {@code outage-shim.c} looks for. What a
 * down token does to calls is shown against real tokens in pkcs11-adapter-tests' {@code OutageShimTest}.
 */
class HsmOutagesTest {
  @TempDir Path work;

  @Test
  void compilesTheShimNextToItsMarkerDirectory() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());

    assertThat(outages.module()).isEqualTo(work.resolve("outage-shim.so").toAbsolutePath());
    assertThat(Files.readAllBytes(outages.module())).startsWith(0x7f, 'E', 'L', 'F');
    assertThat(outages.markerDirectory()).isEqualTo(work.resolve("down").toAbsolutePath()).isEmptyDirectory();
    assertThat(work).isDirectoryNotContaining(path -> path.getFileName().toString().endsWith(".tmp"));
  }

  @Test
  void takeDownAndBringBackCreateAndRemoveTheMarkerNamedAfterTheLabel() {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    Path marker = outages.markerDirectory().resolve("cluster-abcdefghijk_hsm2");

    outages.takeDown("cluster-abcdefghijk/hsm2");
    outages.takeDown("cluster-abcdefghijk/hsm2");
    assertThat(marker).isEmptyFile();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2")).isTrue();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2   ")).as("CK_TOKEN_INFO's blank padding").isTrue();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm1")).isFalse();

    outages.bringBack("cluster-abcdefghijk/hsm2");
    outages.bringBack("cluster-abcdefghijk/hsm2");
    assertThat(marker).doesNotExist();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2")).isFalse();
  }

  @Test
  void refusesLabelsThatNameNoFile() {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    for (String label : new String[] {"", "   ", ".", ".."}) {
      assertThatThrownBy(() -> outages.takeDown(label)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void theLockoutShimCompilesToo() {
    Path library = ShimCompiler.compile("lockout-shim.c", work,
        Map.of("REAL_MODULE", SoftHsmClusterExtension.modulePath().toString()));

    assertThat(library).isEqualTo(work.resolve("lockout-shim.so").toAbsolutePath()).isNotEmptyFile();
    assertThat(work.resolve("lockout-shim.c")).isNotEmptyFile();
  }

  @Test
  void aMissingSourceOrRealModuleIsAClearFailure() {
    assertThatThrownBy(() -> ShimCompiler.compile("no-such-shim.c", work, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no-such-shim.c");
    assertThatThrownBy(() -> HsmOutages.create(work, Path.of("/nonexistent/libpkcs11.so")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("/nonexistent/libpkcs11.so");
  }
}
