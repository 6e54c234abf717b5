package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.shims.HsmOutages;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * One HSM of two goes away and comes back, through {@link HsmOutages}: the real SoftHSM2 library
 * behind a shim that answers {@code CKR_DEVICE_REMOVED} for the token that is down. The lost token
 * fails fast, the other one never notices, and the lost one answers again without a new login.
 */
class OutageShimTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  /** Calls per thread on the token that stays up while the other is down. */
  private static final int CALLS = 300;
  private static final byte[] PLAINTEXT = "through the outage".getBytes(StandardCharsets.UTF_8);

  @TempDir Path work;

  @Test
  void aDownTokenFailsFastTheOtherKeepsAnsweringAndTheDownOneComesBackWithoutANewLogin() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    // SoftHSM2 orders slots by an id drawn from each token's serial. Down goes the token the slot list
    // shows first, so that finding the other one by label always meets the token that does not answer.
    String downLabel = cluster.module().tokenLabels().stream()
        .filter(cluster.tokenLabels()::contains).findFirst().orElseThrow();
    String upLabel = cluster.tokenLabels().stream().filter(label -> !label.equals(downLabel)).findFirst().orElseThrow();
    // The extension's module is the real library; this one is the shim over the same library.
    try (Pkcs11Module shim = Pkcs11Module.load(outages.module());
        Token up = login(shim, upLabel);
        Token down = login(shim, downLabel)) {
      Aead upAead = up.aesGcm(up.generateAesKey(AesKeyTemplate.builder(AesKey.of("k", new byte[] {1})).build()));
      Aead downAead = down.aesGcm(down.generateAesKey(AesKeyTemplate.builder(AesKey.of("k", new byte[] {2})).build()));
      byte[] downCiphertext = downAead.encrypt(PLAINTEXT, null);
      long generation = shim.generation();

      outages.takeDown(downLabel);

      assertThatThrownBy(() -> down.generateRandom(16))
          .isInstanceOf(DeviceLostException.class)
          .hasMessageContaining("CKR_DEVICE_REMOVED");
      assertThat(down.sessionsInUse()).isZero();
      assertThatThrownBy(() -> downAead.decrypt(downCiphertext, null))
          .as("the reconnect finds it still down")
          .isInstanceOf(DeviceLostException.class);
      assertThat(cluster.module().tokenLabels())
          .as("the fault is in the path, not the token: the real library still sees it")
          .contains(downLabel);

      ExecutorService threads = Executors.newFixedThreadPool(3);
      try {
        AtomicBoolean outage = new AtomicBoolean(true);
        CountDownLatch retrying = new CountDownLatch(1);
        Future<Integer> retries = threads.submit(() -> {
          int attempts = 0;
          while (outage.get()) {
            assertThatThrownBy(() -> down.generateRandom(16)).isInstanceOf(DeviceLostException.class);
            attempts++;
            retrying.countDown();
          }
          return attempts;
        });
        assertThat(retrying.await(30, TimeUnit.SECONDS)).as("token 2 retried").isTrue();
        List<Future<?>> users = new ArrayList<>();
        for (int thread = 0; thread < 2; thread++) {
          users.add(threads.submit(() -> {
            for (int call = 0; call < CALLS; call++) {
              assertThat(upAead.decrypt(upAead.encrypt(PLAINTEXT, null), null)).isEqualTo(PLAINTEXT);
              assertThat(up.generateRandom(16)).hasSize(16);
            }
            return null;
          }));
        }
        for (Future<?> user : users) {
          user.get(2, TimeUnit.MINUTES); // rethrows the first failure of that thread
        }
        outage.set(false);
        assertThat(retries.get(1, TimeUnit.MINUTES)).isPositive();
      } finally {
        threads.shutdownNow();
      }

      assertThat(shim.generation())
          .as("never re-initialised: another token of the library answered all along")
          .isEqualTo(generation);

      outages.bringBack(downLabel);

      assertThat(down.generateRandom(16)).as("reconnected by the adapter, no new Token.login").hasSize(16);
      assertThat(downAead.decrypt(downCiphertext, null)).isEqualTo(PLAINTEXT);
      assertThat(upAead.decrypt(upAead.encrypt(PLAINTEXT, null), null)).isEqualTo(PLAINTEXT);
    }
  }

  private static Token login(Pkcs11Module module, String label) {
    return Token.login(module, label, TokenProfile.SOFTHSM2, cluster.kmsuserPin(), SessionPoolConfig.defaults());
  }
}
