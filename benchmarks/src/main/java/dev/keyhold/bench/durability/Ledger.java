package dev.keyhold.bench.durability;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import software.amazon.awssdk.core.SdkBytes;

/**
 * What the service acknowledged during a crash loop, each item with the round (the service's
 * incarnation) that acknowledged it, and what later checks found of it. An item goes in only after
 * the service answered its call with success: a call cut by the kill promised nothing.
 *
 * <p>An item is <em>checked</em> once a later incarnation showed it whole; a lost item is recorded
 * once, with where it was found missing, and printed as it is found. Thread-safe.
 */
final class Ledger {
  /**
   * Something the service acknowledged in round {@code round}, {@code seconds} after that incarnation
   * began to serve, in the answer to the request {@code requestId} (its {@code x-amzn-RequestId}, which
   * the audit log names).
   */
  sealed interface Item permits Key, Ciphertext {
    int round();

    double seconds();

    String requestId();

    /** What it is, for a message. */
    String name();
  }

  /** A key CreateKey returned. */
  record Key(String keyId, String requestId, int round, double seconds) implements Item {
    @Override
    public String name() {
      return "key " + keyId;
    }
  }

  /** A ciphertext Encrypt returned for {@code plaintext} under {@code context}. */
  record Ciphertext(String keyId, SdkBytes blob, SdkBytes plaintext, Map<String, String> context, String requestId,
      int round, double seconds) implements Item {
    @Override
    public String name() {
      return "ciphertext under key " + keyId;
    }
  }

  /** An acknowledged item that a check found missing or broken. */
  record Loss(String item, int round, double seconds, String foundAt, String detail) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "LOST: %s, acknowledged in round %d (%.2f s after it served), found %s: %s",
          item, round, seconds, foundAt, detail);
    }
  }

  private final PrintStream out;
  private final List<Key> keys = new ArrayList<>();
  private final List<Ciphertext> ciphertexts = new ArrayList<>();
  // By identity: two ciphertexts of equal bytes are still two acknowledgements.
  private final Set<Item> checked = Collections.newSetFromMap(new IdentityHashMap<>());
  private final Set<Item> lost = Collections.newSetFromMap(new IdentityHashMap<>());
  private final List<Loss> losses = new ArrayList<>();
  private int firstKeyOfRound;

  /** Prints each loss to {@code out} as it is found. */
  Ledger(PrintStream out) {
    this.out = out;
  }

  /** From now on the keys acknowledged are those of a new incarnation. */
  synchronized void newRound() {
    firstKeyOfRound = keys.size();
  }

  synchronized void acknowledged(Key key) {
    keys.add(key);
  }

  synchronized void acknowledged(Ciphertext ciphertext) {
    ciphertexts.add(ciphertext);
  }

  /**
   * A key to encrypt under: half the time one this incarnation acknowledged (so keys made in its
   * first second, beside the crash's rollback, are used at once), else any acknowledged key.
   */
  synchronized Optional<Key> keyToEncryptUnder(SplittableRandom random) {
    if (keys.isEmpty()) {
      return Optional.empty();
    }
    int from = firstKeyOfRound < keys.size() && random.nextBoolean() ? firstKeyOfRound : 0;
    return Optional.of(keys.get(random.nextInt(from, keys.size())));
  }

  synchronized List<Key> keys() {
    return List.copyOf(keys);
  }

  synchronized List<Ciphertext> ciphertexts() {
    return List.copyOf(ciphertexts);
  }

  /**
   * Items acknowledged before {@code round} and not yet seen whole (nor lost), oldest first, keys and
   * ciphertexts as they came: a check cut short has then looked at the oldest of both.
   */
  synchronized List<Item> uncheckedBefore(int round) {
    return Stream.<Item>concat(keys.stream(), ciphertexts.stream())
        .filter(item -> item.round() < round && !checked.contains(item) && !lost.contains(item))
        .sorted(Comparator.comparingInt(Item::round).thenComparingDouble(Item::seconds))
        .toList();
  }

  synchronized void whole(Item item) {
    checked.add(item);
  }

  /** Records {@code item} lost, unless it already is; returns whether this is news. */
  boolean lost(Item item, String foundAt, String detail) {
    Loss loss = new Loss(item.name(), item.round(), item.seconds(), foundAt, detail);
    synchronized (this) {
      if (!lost.add(item)) {
        return false;
      }
      losses.add(loss);
    }
    out.println(loss);
    return true;
  }

  synchronized List<Loss> losses() {
    return List.copyOf(losses);
  }

  synchronized long keysLost() {
    return lost.stream().filter(Key.class::isInstance).count();
  }

  synchronized long ciphertextsLost() {
    return lost.stream().filter(Ciphertext.class::isInstance).count();
  }
}
