package dev.keyhold.server.quota;

import com.google.common.base.Ticker;
import dev.keyhold.server.WireException;
import dev.keyhold.server.authz.KmsOperation;

/**
 * Admits a request, or refuses it with {@code ThrottlingException} because it is over a quota
 * ({@link QuotaConfig}). Every check is a token bucket's: it never waits, takes no lock and reads no
 * database, so the hot path stays cheap. A request refused by one bucket keeps the tokens it took from
 * the buckets asked before; they refill within a second.
 *
 * <p>Each node keeps its own buckets: quotas are per node.
 */
public interface RequestQuotas {
  /**
   * What AWS KMS answers a request over its quota, with {@code ThrottlingException}; the AWS SDKs
   * retry it with backoff.
   */
  String THROTTLED = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";

  /**
   * Admits one request of {@code operation} signed with {@code accessKeyId}: against that access key's
   * rate, then the operation's (the account's cryptographic rate for the cryptographic operations).
   *
   * @throws WireException {@code ThrottlingException} if one of them is exhausted
   */
  void admit(KmsOperation operation, String accessKeyId);

  /**
   * Admits one use of the custom key store {@code customKeyStoreId} by a cryptographic operation, once
   * the request was admitted and its key authorized.
   *
   * @throws WireException {@code ThrottlingException} if the store's rate is exhausted
   */
  void admitKeyStore(String customKeyStoreId);

  /** Token buckets for {@code config}, refilled by {@code ticker}'s time. */
  static RequestQuotas of(QuotaConfig config, Ticker ticker) {
    return new TokenBucketQuotas(config, ticker);
  }

  /** Refuses a request with AWS's {@code ThrottlingException}. */
  static WireException throttled() {
    return new WireException(WireException.Type.ThrottlingException, THROTTLED);
  }
}
