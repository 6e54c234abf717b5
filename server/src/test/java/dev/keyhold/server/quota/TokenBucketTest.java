package dev.keyhold.server.quota;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class TokenBucketTest {
  private final FakeTicker ticker = new FakeTicker();

  @Test
  void holdsOneSecondOfTokensAndRefillsAtItsRate() {
    TokenBucket bucket = new TokenBucket(5, ticker);

    assertThat(admitted(bucket, 10)).isEqualTo(5);
    ticker.advance(Duration.ofMillis(199));
    assertThat(bucket.tryAcquire()).isFalse();
    ticker.advance(Duration.ofMillis(1));
    assertThat(bucket.tryAcquire()).isTrue();
    assertThat(bucket.tryAcquire()).isFalse();
    ticker.advance(Duration.ofMinutes(1)); // idle: full again, never fuller
    assertThat(admitted(bucket, 10)).isEqualTo(5);
  }

  @Test
  void aFractionalRateHoldsOneToken() {
    TokenBucket bucket = new TokenBucket(0.25, ticker);

    assertThat(admitted(bucket, 3)).isEqualTo(1);
    ticker.advance(Duration.ofMillis(3999));
    assertThat(bucket.tryAcquire()).isFalse();
    ticker.advance(Duration.ofMillis(1));
    assertThat(bucket.tryAcquire()).isTrue();
  }

  @Test
  void anInfiniteRateAdmitsEverything() {
    assertThat(admitted(new TokenBucket(Double.POSITIVE_INFINITY, ticker), 100_000)).isEqualTo(100_000);
  }

  @Test
  void aRateIsPositive() {
    for (double rate : new double[] {0, -1, Double.NaN}) {
      assertThatThrownBy(() -> new TokenBucket(rate, ticker)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void concurrentCallersTakeEachTokenOnce() throws Exception {
    TokenBucket bucket = new TokenBucket(1000, ticker);
    AtomicInteger admitted = new AtomicInteger();
    ExecutorService threads = Executors.newFixedThreadPool(4);
    try {
      List<Future<?>> running = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        running.add(threads.submit(() -> admitted.addAndGet(admitted(bucket, 1000))));
      }
      for (Future<?> thread : running) {
        thread.get();
      }
    } finally {
      threads.shutdown();
    }
    assertThat(admitted.get()).isEqualTo(1000);
  }

  private static int admitted(TokenBucket bucket, int calls) {
    int admitted = 0;
    for (int i = 0; i < calls; i++) {
      admitted += bucket.tryAcquire() ? 1 : 0;
    }
    return admitted;
  }
}
