package dev.keyhold.bench.harness;

import dev.keyhold.bench.LoadGenerator;
import dev.keyhold.pkcs11.Pkcs11Module;
import java.util.concurrent.ExecutionException;

/**
 * keyhold-bench's raw C route for the other benchmarks, so that their figures stand beside the token's
 * own limit from the same run: the raw C program on a throwaway SoftHSM2 token of its own, in the
 * token directory the process's SoftHSM2 configuration names, with an AES-256 token key made for it
 * (persistent, sensitive, not extractable, as the service's keys are) and destroyed on {@link #close}.
 */
public final class TokenLimit implements AutoCloseable {
  private final AdapterRoute adapter;
  private final RawCRoute rawC;

  private TokenLimit(AdapterRoute adapter, RawCRoute rawC) {
    this.adapter = adapter;
    this.rawC = rawC;
  }

  /**
   * Makes (or reuses) the token {@code label} in {@code softHsm}'s directory and starts the raw C
   * program on it.
   *
   * @throws IllegalStateException if gcc or the PKCS#11 header is missing (with what to install)
   */
  public static TokenLimit onThrowawayToken(Pkcs11Module softHsm, String label) {
    TokenUnderTest token = TokenUnderTest.throwaway(softHsm, label);
    AdapterRoute adapter = AdapterRoute.open(softHsm, token, 1);
    try {
      return new TokenLimit(adapter, RawCRoute.open(token, adapter.key()));
    } catch (RuntimeException e) {
      adapter.close();
      throw e;
    }
  }

  /** AES-256-GCM encryption of {@code payloadBytes} from {@code threads} threads, with {@code load}'s timing. */
  public LoadGenerator.Result encrypt(int payloadBytes, int threads, LoadGenerator load)
      throws InterruptedException, ExecutionException {
    return rawC.loop(RawCRoute.Operation.ENCRYPT, payloadBytes, load).closedLoop(threads);
  }

  @Override
  public void close() {
    try (AdapterRoute token = adapter) {
      rawC.close();
    }
  }
}
