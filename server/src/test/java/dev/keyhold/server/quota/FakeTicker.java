package dev.keyhold.server.quota;

import com.google.common.base.Ticker;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/** A ticker the test moves on. */
final class FakeTicker extends Ticker {
  private final AtomicLong nanos = new AtomicLong(System.nanoTime());

  void advance(Duration by) {
    nanos.addAndGet(by.toNanos());
  }

  @Override
  public long read() {
    return nanos.get();
  }
}
