package dev.keyhold.bench.durability;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateKeyResponse;
import software.amazon.awssdk.services.kms.model.EncryptResponse;

/**
 * What runs against one incarnation of the service in a crash loop, from the moment it serves until
 * it is killed: threads calling CreateKey, threads calling Encrypt under acknowledged keys, and the
 * {@linkplain LedgerCheck#afterRestart check} of what earlier incarnations acknowledged.
 *
 * <p>Only a call the service answered with success goes into the {@link Ledger}. A call that fails
 * before {@link #killing} is the service's error, counted by code; after it, a call the kill cut,
 * which promised nothing.
 */
final class CrashLoad {
  private static final int MAX_PLAINTEXT = 64;
  private static final Duration END_TIMEOUT = Duration.ofMinutes(1);

  private final KmsClient client;
  private final Ledger ledger;
  private final int round;
  private final long servingSince;
  private final ExecutorService pool;
  private final List<Future<?>> workers = new ArrayList<>();
  private final Future<LedgerCheck.Tally> check;
  private final AtomicInteger createKeysInFlight = new AtomicInteger();
  private final LongAdder keys = new LongAdder();
  private final LongAdder ciphertexts = new LongAdder();
  private final LongAdder cut = new LongAdder();
  private final ErrorCounts errors = new ErrorCounts();
  private volatile boolean killing;

  /** What the load did: acknowledged items, the service's errors before the kill, calls the kill cut. */
  record Result(long keys, long ciphertexts, ErrorCounts errors, long cut, LedgerCheck.Tally check) {}

  /**
   * Starts the load on the incarnation of {@code round} that {@code client} reaches, which began to
   * serve at {@code servingSince} ({@link System#nanoTime}); {@code random} seeds the plaintexts and
   * the choice of keys.
   */
  CrashLoad(KmsClient client, Ledger ledger, int round, long servingSince, int creators, int encryptors,
      SplittableRandom random) {
    this.client = client;
    this.ledger = ledger;
    this.round = round;
    this.servingSince = servingSince;
    this.pool = Parallel.pool(creators + encryptors + 1, "round-" + round);
    for (int i = 0; i < creators; i++) {
      workers.add(pool.submit(this::createKeys));
    }
    for (int i = 0; i < encryptors; i++) {
      SplittableRandom own = random.split();
      workers.add(pool.submit(() -> encrypt(own)));
    }
    check = pool.submit(() -> LedgerCheck.afterRestart(client, ledger, round, () -> killing));
  }

  int createKeysInFlight() {
    return createKeysInFlight.get();
  }

  /** The kill is coming: failures from now on are its doing. Returns the CreateKeys in flight now. */
  int killing() {
    killing = true;
    return createKeysInFlight.get();
  }

  /** After the kill: waits for every thread to see it, and says what the load did. */
  Result awaitEnd() throws InterruptedException {
    long deadline = System.nanoTime() + END_TIMEOUT.toNanos();
    try {
      for (Future<?> worker : workers) {
        worker.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      }
      LedgerCheck.Tally tally = check.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      return new Result(keys.sum(), ciphertexts.sum(), errors, cut.sum(), tally);
    } catch (ExecutionException e) {
      throw new IllegalStateException("round " + round + ": a load thread failed: " + e.getCause(), e.getCause());
    } catch (TimeoutException e) {
      throw new IllegalStateException("round " + round + ": the load did not end within " + END_TIMEOUT.toSeconds()
          + " s of the kill", e);
    } finally {
      pool.shutdownNow();
    }
  }

  private void createKeys() {
    while (running()) {
      createKeysInFlight.incrementAndGet();
      try {
        CreateKeyResponse response = client.createKey(request -> request.description("crash loop, round " + round));
        ledger.acknowledged(new Ledger.Key(response.keyMetadata().keyId(), response.responseMetadata().requestId(),
            round, secondsServing()));
        keys.increment();
      } catch (SdkException e) {
        failed("CreateKey", e);
      } finally {
        createKeysInFlight.decrementAndGet();
      }
    }
  }

  private void encrypt(SplittableRandom random) {
    Map<String, String> context = Map.of("crash-loop-round", Integer.toString(round));
    while (running()) {
      Optional<Ledger.Key> key = ledger.keyToEncryptUnder(random);
      if (key.isEmpty()) {
        pause(); // the first round, before its first key
        continue;
      }
      byte[] plaintext = new byte[random.nextInt(1, MAX_PLAINTEXT + 1)];
      random.nextBytes(plaintext);
      SdkBytes sent = SdkBytes.fromByteArray(plaintext);
      try {
        EncryptResponse response = client.encrypt(request -> request.keyId(key.get().keyId()).plaintext(sent)
            .encryptionContext(context));
        ledger.acknowledged(new Ledger.Ciphertext(key.get().keyId(), response.ciphertextBlob(), sent, context,
            response.responseMetadata().requestId(), round, secondsServing()));
        ciphertexts.increment();
      } catch (SdkException e) {
        failed("Encrypt", e);
      }
    }
  }

  private void failed(String operation, SdkException e) {
    if (killing) {
      cut.increment();
    } else {
      errors.add(operation, e);
    }
  }

  /** Until the kill, or until the driver gives up on the round. */
  private boolean running() {
    return !killing && !Thread.currentThread().isInterrupted();
  }

  private double secondsServing() {
    return (System.nanoTime() - servingSince) / 1e9;
  }

  private static void pause() {
    try {
      Thread.sleep(5);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
