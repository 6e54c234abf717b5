package dev.keyhold.kms.metadata;

import com.google.common.collect.ImmutableList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The subscribers of a metadata store's topics in this process, and the delivery of messages to them. */
final class Subscriptions {
  private static final Logger LOG = LoggerFactory.getLogger(Subscriptions.class);

  private record Subscriber(String topic, Consumer<String> listener, Runnable resync) {}

  private final List<Subscriber> subscribers = new CopyOnWriteArrayList<>();
  private final Set<String> topics = ConcurrentHashMap.newKeySet();

  void add(String topic, Consumer<String> listener, Runnable resync) {
    topics.add(topic);
    subscribers.add(new Subscriber(topic, listener, resync));
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
