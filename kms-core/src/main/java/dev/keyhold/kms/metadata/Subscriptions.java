package dev.keyhold.kms.metadata;

import com.google.common.collect.ImmutableList;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The subscribers of a metadata store's topics in this process, and the delivery of messages to them. */
final class Subscriptions {
  private static final Logger LOG = LoggerFactory.getLogger(Subscriptions.class);

  private record Subscriber(String topic, Consumer<String> listener, Runnable resync) {}

  private final List<Subscriber> subscribers = new CopyOnWriteArrayList<>();
  private final Set<String> topics = ConcurrentHashMap.newKeySet();
  /** Per topic, released once the database listens to it for this process. */
  private final Map<String, CountDownLatch> listening = new ConcurrentHashMap<>();

  void add(String topic, Consumer<String> listener, Runnable resync) {
    subscribers.add(new Subscriber(topic, listener, resync));
    listening.computeIfAbsent(topic, t -> new CountDownLatch(1));
    topics.add(topic);
  }

  /** Records that the database listens to {@code topic} for this process now. */
  void listeningTo(String topic) {
    listening.computeIfAbsent(topic, t -> new CountDownLatch(1)).countDown();
  }

  /** Waits, at most {@code timeout}, until the database listens to {@code topic}; whether it does. */
  boolean awaitListening(String topic, Duration timeout) {
    try {
      return listening.computeIfAbsent(topic, t -> new CountDownLatch(1)).await(timeout.toMillis(),
          TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Every topic anyone subscribed to. */
  ImmutableList<String> topics() {
    return ImmutableList.copyOf(topics);
  }

  void deliver(String topic, String message) {
    for (Subscriber subscriber : subscribers) {
      if (subscriber.topic().equals(topic)) {
        run(() -> subscriber.listener().accept(message));
      }
    }
  }

  void resyncAll() {
    for (Subscriber subscriber : subscribers) {
      run(subscriber.resync());
    }
  }

  /** A subscriber that fails must not stop the others, nor the transaction that published. */
  private static void run(Runnable delivery) {
    try {
      delivery.run();
    } catch (RuntimeException e) {
      LOG.error("a metadata subscriber failed", e);
    }
  }
}
