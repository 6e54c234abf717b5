package dev.keyhold.kms.secret;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.MetadataStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * Rotates the master key: every secret sealed in the metadata store is sealed again under a new key,
 * which then replaces the old one. Each step is durable before the next, and a kill between any two
 * leaves every secret readable under the old key or the new one; running {@link #rotate} again
 * finishes the rotation it finds under way.
 *
 * <ol>
 *   <li>{@code next-written}: a new key in {@code FILE.next} (kept if a rotation left one);
 *   <li>{@code resealed}: in one transaction, every secret sealed again under the new key, by each
 *       {@link SealedSecrets} owner;
 *   <li>{@code previous-kept}: the old key linked as {@code FILE.previous}, replacing the one before;
 *   <li>{@code promoted}: {@code FILE.next} renamed over {@code FILE}.
 * </ol>
 *
 * Nodes that share the files follow without a restart ({@link MasterKey}): they open a secret with the
 * key it names, reading the files again when it names one they do not hold. Nodes that each keep a
 * copy of the file need {@code FILE.next} before step 2: {@link #prepare} writes it alone, for the
 * operator to copy to every node first.
 */
public final class MasterKeyRotation {
  private final MasterKey masterKey;
  private final MetadataStore metadata;
  private final ImmutableList<SealedSecrets> owners;
  private final Checkpoints checkpoints;

  /**
   * @param owners every owner of sealed secrets in {@code metadata}: a secret no owner re-seals stays
   *     under the old key, which a second rotation forgets
   */
  public MasterKeyRotation(MasterKey masterKey, MetadataStore metadata, List<SealedSecrets> owners,
      Checkpoints checkpoints) {
    this.masterKey = checkNotNull(masterKey, "masterKey");
    this.metadata = checkNotNull(metadata, "metadata");
    this.owners = ImmutableList.copyOf(owners);
    this.checkpoints = checkNotNull(checkpoints, "checkpoints");
  }

  /** Secrets that an owner keeps in the metadata store, sealed under the master key. */
  @FunctionalInterface
  public interface SealedSecrets {
    /** Replaces, in the transaction of {@code c}, every secret it keeps with {@code reseal}'s answer for it. */
    void resealAll(Connection c, Reseal reseal) throws SQLException;
  }

  /** Seals a secret again, with the same context, under the key a rotation moves to. */
  @FunctionalInterface
  public interface Reseal {
    SealedSecret apply(SealedSecret sealed, String context);
  }

  /** Writes the new key to {@code FILE.next}, unless a rotation under way wrote it; returns that file. */
  public Path prepare() {
    Path next = MasterKey.nextFile(masterKey.file());
    try {
      if (!Files.exists(next)) {
        MasterKey.createKeyFile(next);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + next, e);
    }
    masterKey.reload();
    checkpoints.reached("next-written");
    return next;
  }

  /** Rotates the key, or finishes the rotation under way: every step above, from the first not done. */
  public void rotate() {
    Path file = masterKey.file();
    Path next = prepare();
    MasterKey.Key nextKey;
    try {
      nextKey = MasterKey.Key.read(next);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + next, e);
    }
    metadata.inTransaction(c -> {
      Reseal reseal = (sealed, context) -> MasterKey.isSealedUnder(sealed, nextKey) ? sealed
          : masterKey.seal(nextKey, masterKey.open(sealed, context), context);
      for (SealedSecrets owner : owners) {
        owner.resealAll(c, reseal);
      }
      return null;
    });
    checkpoints.reached("resealed");
    Path previous = MasterKey.previousFile(file);
    try {
      Files.deleteIfExists(previous);
      Files.createLink(previous, file);
      checkpoints.reached("previous-kept");
      Files.move(next, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot put the new master key in place of " + file, e);
    }
    masterKey.reload();
    checkpoints.reached("promoted");
  }
}
