package dev.keyhold.server.quota;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.base.Ticker;
import com.google.common.collect.ImmutableMap;
import com.google.common.collect.Maps;
import dev.keyhold.server.authz.KmsOperation;
import java.util.EnumMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * {@link RequestQuotas} as token buckets: one per operation (the cryptographic ones share the
 * account's), one per custom key store and one per access key, each made on first use. An unlimited
 * operation's bucket admits without touching a counter; unlimited store and access key rates make no
 * bucket at all.
 */
final class TokenBucketQuotas implements RequestQuotas {
  private final Ticker ticker;
  /** An enum map: the hot path looks its operation up in an array, without hashing. */
  private final ImmutableMap<KmsOperation, TokenBucket> operations;
  private final double perKeyStore;
  private final double perCredential;
  private final ConcurrentMap<String, TokenBucket> keyStores = new ConcurrentHashMap<>();
  // Only authenticated access keys reach it, so it holds at most one bucket per configured credential.
  private final ConcurrentMap<String, TokenBucket> credentials = new ConcurrentHashMap<>();

  TokenBucketQuotas(QuotaConfig config, Ticker ticker) {
    this.ticker = checkNotNull(ticker, "ticker");
    TokenBucket account = new TokenBucket(config.cryptographicPerAccount(), ticker);
    EnumMap<KmsOperation, TokenBucket> buckets = new EnumMap<>(KmsOperation.class);
    for (KmsOperation operation : KmsOperation.values()) {
      buckets.put(operation, KmsOperation.CRYPTOGRAPHIC.contains(operation)
          ? account
          : new TokenBucket(config.rateOf(operation), ticker));
    }
    operations = Maps.immutableEnumMap(buckets);
    perKeyStore = config.perKeyStore();
    perCredential = config.perCredential();
  }

  @Override
  public void admit(KmsOperation operation, String accessKeyId) {
    if (perCredential != QuotaConfig.UNLIMITED) {
      take(bucket(credentials, accessKeyId, perCredential));
    }
    take(operations.get(operation));
  }

  @Override
  public void admitKeyStore(String customKeyStoreId) {
    if (perKeyStore != QuotaConfig.UNLIMITED) {
      take(bucket(keyStores, customKeyStoreId, perKeyStore));
    }
  }

  private TokenBucket bucket(ConcurrentMap<String, TokenBucket> buckets, String key, double rate) {
    TokenBucket bucket = buckets.get(key); // a plain read once the bucket exists: no lambda, no lock
    return bucket != null ? bucket : buckets.computeIfAbsent(key, k -> new TokenBucket(rate, ticker));
  }

  private static void take(TokenBucket bucket) {
    if (!bucket.tryAcquire()) {
      throw RequestQuotas.throttled();
    }
  }
}
