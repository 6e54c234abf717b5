package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.util.concurrent.Uninterruptibles;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class SessionPoolTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  @Test
  void eightThreadsShareTwoTokensWithoutErrorsAndReturnEverySession() throws Exception {
    int threads = 8;
    int operations = 10_000;
    SessionPoolConfig pool = SessionPoolConfig.of(4, Duration.ofSeconds(30));
    try (Token first = cluster.login(1, pool); Token second = cluster.login(2, pool)) {
      Aead[] aeads = {
        first.aesGcm(first.generateAesKey(AesKeyTemplate.builder(AesKey.of("mixed", new byte[] {1})).build())),
        second.aesGcm(second.generateAesKey(AesKeyTemplate.builder(AesKey.of("mixed", new byte[] {1})).build())),
      };
      ExecutorService executor = Executors.newFixedThreadPool(threads);
      List<Future<Integer>> results = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        results.add(executor.submit(() -> {
          int done = 0;
          for (int i = 0; i < operations / threads / 2; i++) {
            Aead aead = aeads[(thread + i) % 2];
            byte[] plaintext = ("thread " + thread + " op " + i).getBytes(StandardCharsets.UTF_8);
            byte[] aad = {(byte) thread, (byte) i};
            byte[] decrypted = aead.decrypt(aead.encrypt(plaintext, aad), aad);
            if (!Arrays.equals(decrypted, plaintext)) {
              throw new AssertionError("round trip mismatch in thread " + thread);
            }
            done += 2;
          }
          return done;
        }));
      }
      int total = 0;
      for (Future<Integer> result : results) {
        total += result.get(5, TimeUnit.MINUTES);
      }
      executor.shutdown();

      assertThat(total).isEqualTo(operations);
      for (Token token : List.of(first, second)) {
        assertThat(token.sessionsInUse()).isZero();
        assertThat(token.idleSessions()).isBetween(1, 4);
      }
    }
  }

  @Test
  void anExhaustedPoolWaitsThenFailsClearly() throws Exception {
    try (Token token = cluster.login(1, SessionPoolConfig.of(1, Duration.ofMillis(300)))) {
      Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(AesKey.of("busy", new byte[] {2})).build()));
      CountDownLatch holding = new CountDownLatch(1);
      CountDownLatch letGo = new CountDownLatch(1);
      ExecutorService executor = Executors.newSingleThreadExecutor();
      Future<?> holder = executor.submit(() -> token.call("hold", false, (session, connection) -> {
        holding.countDown();
        Uninterruptibles.awaitUninterruptibly(letGo);
        return null;
      }));
      assertThat(holding.await(10, TimeUnit.SECONDS)).isTrue();

      long start = System.nanoTime();
      assertThatThrownBy(() -> aead.encrypt(new byte[] {1}, null))
          .isInstanceOf(SessionsExhaustedException.class)
          .hasMessageContaining("all 1 sessions of token '" + cluster.tokenLabels().get(0) + "' stayed busy for 300 ms");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(300));

      letGo.countDown();
      holder.get(10, TimeUnit.SECONDS);
      executor.shutdown();
      assertThat(aead.decrypt(aead.encrypt(new byte[] {1}, null), null)).containsExactly(1);
      assertThat(token.sessionsInUse()).isZero();
    }
  }

  @Test
  void aBrokenSessionIsClosedAndReplaced() {
    try (Token token = cluster.login(2, SessionPoolConfig.of(1, Duration.ofSeconds(5)))) {
      Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(AesKey.of("b", new byte[] {3})).build()));
      long broken = token.call("C_EncryptInit", false, (session, connection) -> session.getSessionHandle());
      // An argument the token refuses mid-operation leaves the session in an unknown state.
      assertThatThrownBy(() -> token.withKey(AesKey.of("b", new byte[] {3}), "C_Encrypt", false, (session, handle) -> {
        session.encryptInit(new org.xipki.pkcs11.wrapper.Mechanism(
            org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_GCM,
            new org.xipki.pkcs11.wrapper.params.GCM_PARAMS(new byte[12], null, 128)), handle);
        return session.encrypt(new byte[0]);
      })).isInstanceOf(TokenFailureException.class).hasMessageContaining("CKR_ARGUMENTS_BAD");

      long replacement = token.call("C_EncryptInit", false, (session, connection) -> session.getSessionHandle());
      assertThat(replacement).isNotEqualTo(broken);
      assertThat(aead.decrypt(aead.encrypt(new byte[] {9}, null), null)).containsExactly(9);
    }
  }
}
