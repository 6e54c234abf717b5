package dev.keyhold.bench;

import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.kms.metadata.MetadataStore;
import java.sql.Connection;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * A metadata store that passes every call on to another and counts the transactions asked of it, so
 * that a benchmark can say how many transactions an operation makes rather than infer it from a rate.
 * A transaction the underlying store retries (after a serialization failure) counts once.
 */
final class CountingMetadataStore implements MetadataStore {
  private final MetadataStore store;
  private final LongAdder transactions = new LongAdder();

  CountingMetadataStore(MetadataStore store) {
    this.store = checkNotNull(store, "store");
  }

  /** The transactions asked for since this store was made. */
  long transactions() {
    return transactions.sum();
  }

  @Override
  public <T> T inTransaction(Work<T> work) {
    transactions.increment();
    return store.inTransaction(work);
  }

  @Override
  public void publishOnCommit(Connection connection, String topic, String message) {
    store.publishOnCommit(connection, topic, message);
  }

  @Override
  public void subscribe(String topic, Consumer<String> listener, Runnable resync) {
    store.subscribe(topic, listener, resync);
  }

  @Override
  public boolean holdsRole(String role) {
    return store.holdsRole(role);
  }

  @Override
  public void releaseRole(String role) {
    store.releaseRole(role);
  }

  @Override
  public void close() {
    store.close();
  }

  @Override
  public String toString() {
    return store.toString();
  }
}
