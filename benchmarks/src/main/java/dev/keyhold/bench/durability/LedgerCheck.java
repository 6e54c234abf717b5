package dev.keyhold.bench.durability;

import dev.keyhold.bench.durability.KeyChecks.Finding;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * Checks a {@link Ledger} against the service through {@link KeyChecks}: every acknowledged key in
 * ListKeys, Enabled and usable; every acknowledged ciphertext decrypting to its plaintext. Losses go
 * to the ledger, which says when each was acknowledged; this says how many items it looked at.
 */
final class LedgerCheck {
  private final KmsClient client;
  private final Ledger ledger;
  private final String foundAt;
  private final AtomicInteger keys = new AtomicInteger();
  private final AtomicInteger ciphertexts = new AtomicInteger();
  private final AtomicInteger lost = new AtomicInteger();
  private final AtomicInteger undecided = new AtomicInteger();

  /** What a check looked at: keys and ciphertexts with a verdict, of which lost, and how many got no answer. */
  record Tally(int keys, int ciphertexts, int lost, int undecided) {}

  private LedgerCheck(KmsClient client, Ledger ledger, String foundAt) {
    this.client = client;
    this.ledger = ledger;
    this.foundAt = foundAt;
  }

  /**
   * The check of each restart, run beside that round's load: every key acknowledged before
   * {@code round} must be listed, and each item acknowledged before it and not yet seen whole is
   * checked, one call at a time, until {@code stopped} (the round's kill is coming: what is left waits
   * for the next restart, and calls the kill cuts decide nothing).
   */
  static Tally afterRestart(KmsClient client, Ledger ledger, int round, BooleanSupplier stopped) {
    LedgerCheck check = new LedgerCheck(client, ledger, "after restart " + round);
    List<Ledger.Key> earlier = ledger.keys().stream().filter(key -> key.round() < round).toList();
    if (earlier.isEmpty()) {
      return check.tally();
    }
    Set<String> listed;
    try {
      listed = KeyChecks.listKeyIds(client);
    } catch (SdkException e) {
      return check.tally(); // no listing: nothing can be said this round
    }
    earlier.forEach(key -> check.listed(key, listed));
    for (Ledger.Item item : ledger.uncheckedBefore(round)) {
      if (stopped.getAsBoolean()) {
        break;
      }
      check.item(item);
    }
    return check.tally();
  }

  /** The final check: every item of the ledger, from {@code threads} threads, on a service left alone. */
  static Tally everything(KmsClient client, Ledger ledger, int threads) throws InterruptedException {
    LedgerCheck check = new LedgerCheck(client, ledger, "in the final check");
    Set<String> listed = KeyChecks.listKeyIds(client);
    List<Ledger.Key> keys = ledger.keys();
    keys.forEach(key -> check.listed(key, listed));
    List<Ledger.Item> items = new ArrayList<>(keys);
    items.addAll(ledger.ciphertexts());
    Parallel.forEach(items, threads, check::item);
    return check.tally();
  }

  private void listed(Ledger.Key key, Set<String> listed) {
    if (!listed.contains(key.keyId()) && ledger.lost(key, foundAt, "not in ListKeys")) {
      lost.incrementAndGet();
    }
  }

  private void item(Ledger.Item item) {
    Finding finding;
    if (item instanceof Ledger.Key key) {
      keys.incrementAndGet();
      finding = KeyChecks.checkKey(client, key.keyId());
    } else {
      Ledger.Ciphertext ciphertext = (Ledger.Ciphertext) item;
      ciphertexts.incrementAndGet();
      finding = KeyChecks.checkCiphertext(client, ciphertext.keyId(), ciphertext.blob(), ciphertext.plaintext(),
          ciphertext.context());
    }
    switch (finding.verdict()) {
      case WHOLE -> ledger.whole(item);
      case UNDECIDED -> undecided.incrementAndGet();
      case LOST -> {
        if (ledger.lost(item, foundAt, finding.detail())) {
          lost.incrementAndGet();
        }
      }
    }
  }

  private Tally tally() {
    return new Tally(keys.get(), ciphertexts.get(), lost.get(), undecided.get());
  }
}
