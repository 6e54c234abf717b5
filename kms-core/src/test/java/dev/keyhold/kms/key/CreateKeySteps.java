package dev.keyhold.kms.key;

import dev.keyhold.kms.keystore.KeyStoreFixture;
import java.util.List;
import java.util.stream.Stream;

/** CreateKey's checkpoints, in order, as this build's clusters go through them: for the crash and race tests. */
final class CreateKeySteps {
  private CreateKeySteps() {}

  /**
   * The steps before the key is enabled. {@code replicated-to} is reached only where Keyhold copies
   * each key to every HSM itself: not on an AWS CloudHSM cluster, which syncs its keys.
   */
  static List<String> beforeEnabled() {
    return Stream.of("intent-recorded", "material-generated", "replicated-to", "enabling")
        .filter(step -> !(KeyStoreFixture.ON_CLOUDHSM && step.equals("replicated-to")))
        .toList();
  }

  /** Every step, {@code enabled} (the key acknowledged) last. */
  static List<String> all() {
    return Stream.concat(beforeEnabled().stream(), Stream.of("enabled")).toList();
  }
}
