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
 * One HSM of two fails mid-load, under 8 client threads of Encrypt and Decrypt over HTTP, and no
 * call fails. When it hangs (the outage shim's hang mode: its calls block, as a network HSM's that
 * stops answering without refusing), each call the hang holds is abandoned at its deadline and
 * answered from the other HSM, and the hung HSM gets no call until a probe finds it answering again,
 * after which it serves without a restart. When it refuses (down), the calls fail over at once.
 */
class HungHsmTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final Duration DEADLINE = Duration.ofMillis(1000);
  private static final int THREADS = 8;
  private static final SessionPoolConfig SESSIONS =
      SessionPoolConfig.of(THREADS, Duration.ofSeconds(5)).withCallDeadline(DEADLINE);

  @TempDir Path data;
  @TempDir Path work;

  @Test
  void oneHsmHangingMidLoadFailsNoCallAndNoCallerWaitsMuchPastTheDeadline() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    try (TestKeyhold keyhold = TestKeyhold.startThrough(softhsm, data, outages.module(), SESSIONS)) {
      String hanging = keyhold.cluster.hsms().get(1).tokenLabel();
      String other = keyhold.cluster.hsms().get(0).tokenLabel();
      KmsClient setup = keyhold.client(keyhold.admin);
      String keyId = setup.createKey(r -> r.description("hang")).keyMetadata().keyId();

      int[] stuck = new int[1];
      // 8 s after the hang: long enough that the few calls it catches stay under 1% of them.
      Latencies latencies = underLoad(keyhold, keyId, Duration.ofSeconds(8), () -> outages.hang(hanging), () -> {
        stuck[0] = CallWatchdog.stuckCalls();
        outages.release(hanging); // a thread blocked in the shim would keep the JVM from ending
      });

      latencies.print("one HSM hanging", stuck[0]);
      assertThat(stuck[0]).as("calls the hang keeps: at most the pool's sessions and one probe")
          .isBetween(1, THREADS + 1);
      assertThat(latencies.p99()).isLessThan(DEADLINE.toNanos() + latencies.unloadedP99());
      assertThat(latencies.max()).as("no caller waits much longer than one deadline")
          .isLessThan(DEADLINE.toNanos() + Duration.ofMillis(750).toNanos());

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

  @Test
  void oneHsmGoingDownMidLoadFailsNoCall() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    try (TestKeyhold keyhold = TestKeyhold.startThrough(softhsm, data, outages.module(), SESSIONS)) {
      String down = keyhold.cluster.hsms().get(1).tokenLabel();
      String keyId = keyhold.client(keyhold.admin).createKey(r -> r.description("down")).keyMetadata().keyId();

      Latencies latencies = underLoad(keyhold, keyId, Duration.ofSeconds(3), () -> outages.takeDown(down),
          () -> outages.bringBack(down));

      latencies.print("one HSM down", CallWatchdog.stuckCalls());
      assertThat(CallWatchdog.stuckCalls()).as("a refusing HSM holds no call").isZero();
    }
  }

  /**
   * {@value #THREADS} threads of Encrypt and Decrypt for 1.5 s, then {@code fault}, then {@code after} more;
   * {@code restore} runs however it ends. Asserts that no call failed.
   */
  private static Latencies underLoad(TestKeyhold keyhold, String keyId, Duration after, Runnable fault,
      Runnable restore)
      throws Exception {
    Queue<Long> unloaded = new ConcurrentLinkedQueue<>();
    Queue<Long> faulted = new ConcurrentLinkedQueue<>();
    Queue<String> failures = new ConcurrentLinkedQueue<>();
    AtomicBoolean afterFault = new AtomicBoolean();
    AtomicBoolean stop = new AtomicBoolean();
    ExecutorService threads = Executors.newFixedThreadPool(THREADS);
    List<Future<?>> running = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      KmsClient client = keyhold.client(keyhold.admin);
      running.add(threads.submit(() -> {
        while (!stop.get()) {
          try {
            long start = System.nanoTime();
            SdkBytes blob = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("load")))
                .ciphertextBlob();
            long encrypted = System.nanoTime();
            client.decrypt(r -> r.ciphertextBlob(blob));
            long decrypted = System.nanoTime();
            Queue<Long> into = afterFault.get() ? faulted : unloaded;
            into.add(encrypted - start);
            into.add(decrypted - encrypted);
          } catch (RuntimeException e) {
            failures.add(e.toString());
          }
        }
        return null;
      }));
    }
    try {
      Thread.sleep(1500);
      afterFault.set(true);
      fault.run();
      Thread.sleep(after.toMillis());
      stop.set(true);
      for (Future<?> thread : running) {
        thread.get(30, TimeUnit.SECONDS);
      }
    } finally {
      stop.set(true);
      restore.run();
      threads.shutdown();
    }
    assertThat(failures).isEmpty();
    return new Latencies(List.copyOf(unloaded), List.copyOf(faulted));
  }

  /** Call latencies (ns) before the fault and from it on. */
  private record Latencies(List<Long> unloaded, List<Long> faulted) {
    long unloadedP99() {
      return percentile(unloaded, 99);
    }

    long p99() {
      return percentile(faulted, 99);
    }

    long max() {
      return percentile(faulted, 100);
    }

    void print(String fault, int stuck) {
      System.out.printf("%s: %d calls before (p99 %.1f ms), %d from the fault on: p99 %.1f ms, max %.1f ms; "
              + "deadline %d ms; %d calls stuck%n", fault, unloaded.size(), unloadedP99() / 1e6, faulted.size(),
          p99() / 1e6, max() / 1e6, DEADLINE.toMillis(), stuck);
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

  private static long percentile(List<Long> values, int percentile) {
    List<Long> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    assertThat(sorted).isNotEmpty();
    int index = (int) Math.ceil(percentile / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, index));
  }
}
