package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A key store's first keys are made while its tokens' keys are listed (the handle index filled after
 * a connect, the reconciler's pass): on SoftHSM2, whose searches spoil the objects being written
 * beside them ({@link TokenProfile#searchesRaceObjectWrites}), the adapter must keep the two apart.
 * Without that, a few of the first keys made here failed to be generated or unwrapped.
 */
class ListingBesideWritesTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);
  private static final int KEYS = 100;

  @Test
  void keysMadeAndCopiedWhileAnotherThreadListsBothTokensAllArrive() throws InterruptedException {
    try (Token first = cluster.login(1); Token second = cluster.login(2)) {
      AtomicBoolean done = new AtomicBoolean();
      Thread lister = new Thread(() -> {
        while (!done.get()) {
          first.listAesKeys();
          second.listAesKeys();
        }
      }, "lister");
      lister.start();
      List<String> failures = new ArrayList<>();
      try {
        for (int n = 0; n < KEYS; n++) {
          AesKeyTemplate template =
              AesKeyTemplate.builder(AesKey.of("beside-a-listing-" + n, new byte[] {(byte) n, (byte) (n >> 8)}))
                  .replicable().build();
          try {
            byte[] wrapped = first.wrapKey(TrustedWrappingKey.NAME, first.generateAesKey(template));
            second.unwrapAesKey(TrustedWrappingKey.NAME, wrapped, template);
          } catch (Pkcs11Exception e) {
            failures.add("key " + n + ": " + e.getMessage());
          }
        }
      } finally {
        done.set(true);
        lister.join();
      }
      assertThat(failures).isEmpty();
      assertThat(second.listAesKeys()).filteredOn(key -> key.label().startsWith("beside-a-listing-")).hasSize(KEYS);
    }
  }
}
