package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.pkcs11.CallWatchdog;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.shims.HsmOutages;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * One HSM of two hangs mid-load (the outage shim's hang mode: its calls block, as a network HSM's that
 * stops answering without refusing). 8 client threads of Encrypt and Decrypt over HTTP see no failed
 * call: each call the hang holds is abandoned at its deadline and answered from the other HSM, and
 * the hung HSM gets no call until a probe finds it answering again, after which it serves without a
 * restart.
 */
class HungHsmTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final Duration DEADLINE = Duration.ofMillis(1000);
  private static final int THREADS = 8;

  @TempDir Path data;
  @TempDir Path work;

  @Test
  void oneHsmHangingMidLoadFailsNoCallAndNoCallerWaitsMuchPastTheDeadline() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    SessionPoolConfig sessions = SessionPoolConfig.of(THREADS, Duration.ofSeconds(5)).withCallDeadline(DEADLINE);
    try (TestKeyhold keyhold = TestKeyhold.startThrough(softhsm, data, outages.module(), sessions)) {
      String hanging = keyhold.cluster.hsms().get(1).tokenLabel();
      String other = keyhold.cluster.hsms().get(0).tokenLabel();
      KmsClient setup = keyhold.client(keyhold.admin);
      String keyId = setup.createKey(r -> r.description("hang")).keyMetadata().keyId();

      Queue<Long> unloaded = new ConcurrentLinkedQueue<>();
      Queue<Long> latencies = new ConcurrentLinkedQueue<>();
      Queue<String> failures = new ConcurrentLinkedQueue<>();
      AtomicBoolean hung = new AtomicBoolean();
      AtomicBoolean stop = new AtomicBoolean();
      ExecutorService threads = Executors.newFixedThreadPool(THREADS);
      List<Future<?>> running = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        KmsClient client = keyhold.client(keyhold.admin);
        running.add(threads.submit(() -> {
          while (!stop.get()) {
            long start = System.nanoTime();
            try {
              SdkBytes blob = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("hang")))
                  .ciphertextBlob();
              long encrypted = System.nanoTime();
              client.decrypt(r -> r.ciphertextBlob(blob));
              long decrypted = System.nanoTime();
              (hung.get() ? latencies : unloaded).add(encrypted - start);
              (hung.get() ? latencies : unloaded).add(decrypted - encrypted);
            } catch (RuntimeException e) {
              failures.add(e.toString());
            }
          }
          return null;
        }));
      }
      Thread.sleep(1500);
      hung.set(true);
      outages.hang(hanging);
      int stuck;
      try {
        Thread.sleep(3 * DEADLINE.toMillis());
        stuck = CallWatchdog.stuckCalls();
        Thread.sleep(1000);
        stop.set(true);
        for (Future<?> thread : running) {
          thread.get(30, TimeUnit.SECONDS);
        }
      } finally {
        stop.set(true);
        outages.release(hanging); // a thread blocked in the shim would keep the JVM from ending
        threads.shutdown();
      }

      assertThat(failures).isEmpty();
      assertThat(stuck).as("calls the hang keeps").isBetween(1, THREADS);
      long oneCall = percentile(unloaded, 99);
      long p99 = percentile(latencies, 99);
      long max = percentile(latencies, 100);
      System.out.printf("%d calls before the hang (p99 %.1f ms), %d after: p99 %.1f ms, max %.1f ms; deadline %d ms;"
              + " %d calls stuck in the hung HSM%n", unloaded.size(), oneCall / 1e6, latencies.size(), p99 / 1e6,
          max / 1e6, DEADLINE.toMillis(), stuck);
      assertThat(p99).isLessThan(DEADLINE.toNanos() + oneCall);
      assertThat(max).as("no caller waits much longer than one deadline")
          .isLessThan(DEADLINE.toNanos() + Duration.ofMillis(500).toNanos());

      // Released, the stuck calls return, are dropped, and the HSM serves again once a probe answers.
      outages.takeDown(other);
      try {
        awaitEncryptAndDecrypt(setup, keyId, Duration.ofSeconds(15));
        assertThat(CallWatchdog.stuckCalls()).isZero();
      } finally {
        outages.bringBack(other);
      }
    }
  }

  private static void awaitEncryptAndDecrypt(KmsClient client, String keyId, Duration bound) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    while (true) {
      try {
        SdkBytes blob = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("back"))).ciphertextBlob();
        assertThat(client.decrypt(r -> r.ciphertextBlob(blob)).plaintext().asUtf8String()).isEqualTo("back");
        return;
      } catch (RuntimeException e) {
        assertThat(System.nanoTime()).as("the released HSM serves within %s; last: %s", bound, e).isLessThan(deadline);
        Thread.sleep(200);
      }
    }
  }

  private static long percentile(Queue<Long> values, int percentile) {
    List<Long> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    assertThat(sorted).isNotEmpty();
    int index = (int) Math.ceil(percentile / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, index));
  }
}
