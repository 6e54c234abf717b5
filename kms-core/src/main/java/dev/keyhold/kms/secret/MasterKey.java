package dev.keyhold.kms.secret;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import com.google.common.io.BaseEncoding;
import dev.keyhold.pkcs11.Pin;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The service master key: 256 random bits in a file of their own, outside the metadata store, that
 * encrypt the secrets the store keeps (kmsuser passwords, secret access keys). Whoever holds the
 * database alone learns no secret.
 *
 * <p>{@link #loadOrCreate} creates the file with mode 0600 on first start; an operator may supply one
 * instead (32 raw bytes, mode 0600 or stricter). A file readable by group or others is refused.
 * Secrets are sealed with AES-256-GCM in software: version byte 2, the key's 8-byte id, 12-byte random
 * IV, ciphertext and tag, with the caller's context (e.g. the key store id) as associated data, so a
 * sealed secret cannot be moved to another record. Version 1, from before keys had ids, opens under
 * whichever key the node holds that opens it.
 *
 * <h2>Rotation</h2>
 *
 * The key is rotated ({@link MasterKeyRotation}) through two files beside the configured one,
 * {@code FILE.next} (the key a rotation moves to) and {@code FILE.previous} (the key before the last
 * rotation). A MasterKey holds every one of the three that exists, seals under {@code FILE}, and opens
 * a secret with the key its id names. When the files change (a rotation on this host or another that
 * shares them) it reads them again: before sealing, and when a secret names a key it does not hold. So
 * a running node follows a rotation without a restart.
 *
 * <p>It also gives keys for other purposes ({@link #deriveKeys}), so that no second secret file is
 * needed and the master keys themselves are used for sealing alone.
 */
public final class MasterKey {
  private static final int KEY_BYTES = 32;
  private static final byte UNNAMED = 1;
  private static final byte NAMED = 2;
  private static final int ID_BYTES = 8;
  private static final int IV_BYTES = 12;
  private static final String HMAC = "HmacSHA256";
  private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

  private final Path file;
  private final SecureRandom random = new SecureRandom();
  private volatile Ring ring;

  private MasterKey(Path file, Ring ring) {
    this.file = file;
    this.ring = ring;
  }

  /** Reads the key at {@code file} (and a rotation's files beside it), creating it (mode 0600) if absent. */
  public static MasterKey loadOrCreate(Path file) {
    checkNotNull(file, "file");
    try {
      if (!Files.exists(file)) {
        createKeyFile(file);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the master key file " + file, e);
    }
    return load(file);
  }

  /**
   * Reads the key at {@code file}, which must exist (several nodes share one key, so none of them may
   * make its own), and a rotation's files beside it.
   *
   * @throws IllegalStateException if a file is readable by others or is not a key
   * @throws UncheckedIOException if one cannot be read, or {@code file} does not exist
   */
  public static MasterKey load(Path file) {
    checkNotNull(file, "file");
    return new MasterKey(file, Ring.read(file));
  }

  /**
   * Writes a new random key to {@code file} (mode 0600) unless it exists; two racing callers never
   * overwrite each other's key.
   */
  static void createKeyFile(Path file) throws IOException {
    byte[] bytes = new byte[KEY_BYTES];
    new SecureRandom().nextBytes(bytes);
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
      Path temporary = Files.createTempFile(file.toAbsolutePath().getParent(), ".master-key", ".tmp",
          PosixFilePermissions.asFileAttribute(OWNER_ONLY));
      Files.write(temporary, bytes);
      try {
        // A link, not a move: two first starts racing must not overwrite each other's key.
        Files.createLink(file, temporary);
      } catch (FileAlreadyExistsException raced) {
        // The other one's key stands.
      } finally {
        Files.delete(temporary);
      }
    } finally {
      Arrays.fill(bytes, (byte) 0);
    }
  }

  /** The file a rotation writes its new key to. */
  static Path nextFile(Path file) {
    return file.resolveSibling(file.getFileName() + ".next");
  }

  /** The file that keeps the key before the last rotation. */
  static Path previousFile(Path file) {
    return file.resolveSibling(file.getFileName() + ".previous");
  }

  /** Seals {@code secret} under the key of the configured file, bound to {@code context}. */
  public SealedSecret seal(Pin secret, String context) {
    checkNotNull(secret, "secret");
    refreshIfChanged();
    return seal(ring.current(), secret, context);
  }

  /** Seals {@code secret} under {@code key}, the way {@link #open} reads it. */
  SealedSecret seal(Key key, Pin secret, String context) {
    byte[] plaintext = secret.withChars(MasterKey::utf8);
    try {
      byte[] iv = new byte[IV_BYTES];
      random.nextBytes(iv);
      Cipher cipher = cipher(key.secret(), Cipher.ENCRYPT_MODE, iv, context);
      int header = 1 + ID_BYTES + IV_BYTES;
      byte[] sealed = new byte[header + cipher.getOutputSize(plaintext.length)];
      sealed[0] = NAMED;
      System.arraycopy(key.id(), 0, sealed, 1, ID_BYTES);
      System.arraycopy(iv, 0, sealed, 1 + ID_BYTES, IV_BYTES);
      cipher.doFinal(plaintext, 0, plaintext.length, sealed, header);
      return SealedSecret.of(sealed);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed", e);
    } finally {
      Arrays.fill(plaintext, (byte) 0);
    }
  }

  /**
   * Opens what {@link #seal} made for the same {@code context}, under whichever key of the ring it
   * names, reading the files again if it names one this node does not hold yet.
   *
   * @throws IllegalArgumentException if it was sealed under a key the files do not hold, or under
   *     another context, or altered
   */
  public Pin open(SealedSecret sealed, String context) {
    byte[] bytes = sealed.bytes();
    checkArgument(bytes.length > 1 && (bytes[0] == UNNAMED || bytes[0] == NAMED), "not a sealed secret");
    if (bytes[0] == UNNAMED) {
      for (Key key : ring.keys()) {
        Optional<Pin> opened = open(key, bytes, 1, context);
        if (opened.isPresent()) {
          return opened.get();
        }
      }
      throw new IllegalArgumentException("the sealed secret does not open under this master key and context");
    }
    checkArgument(bytes.length > 1 + ID_BYTES + IV_BYTES, "not a sealed secret");
    byte[] id = Arrays.copyOfRange(bytes, 1, 1 + ID_BYTES);
    Key key = ring.find(id).orElseGet(() -> {
      reload();
      return ring.find(id).orElseThrow(() -> new IllegalArgumentException("the sealed secret does not open: it is sealed under master key "
          + BaseEncoding.base16().lowerCase().encode(id) + ", which " + file + " and its rotation files do not hold"));
    });
    return open(key, bytes, 1 + ID_BYTES, context).orElseThrow(() ->
        new IllegalArgumentException("the sealed secret does not open under this master key and context"));
  }

  /** Whether {@code sealed} is sealed under {@code key}, by the id it names. */
  static boolean isSealedUnder(SealedSecret sealed, Key key) {
    byte[] bytes = sealed.bytes();
    return bytes.length > 1 + ID_BYTES && bytes[0] == NAMED
        && Arrays.equals(Arrays.copyOfRange(bytes, 1, 1 + ID_BYTES), key.id());
  }

  /** The key of the configured file, as this node holds it now. */
  Key current() {
    return ring.current();
  }

  /** The configured file. */
  Path file() {
    return file;
  }

  /** Reads the files again, as after a rotation. */
  synchronized void reload() {
    ring = Ring.read(file);
  }

  private void refreshIfChanged() {
    if (!ring.stamp().equals(stampOf(file))) {
      reload();
    }
  }

  private static Optional<Pin> open(Key key, byte[] bytes, int ivAt, String context) {
    byte[] plaintext = null;
    try {
      Cipher cipher = cipher(key.secret(), Cipher.DECRYPT_MODE, Arrays.copyOfRange(bytes, ivAt, ivAt + IV_BYTES),
          context);
      plaintext = cipher.doFinal(bytes, ivAt + IV_BYTES, bytes.length - ivAt - IV_BYTES);
      CharBuffer chars = StandardCharsets.UTF_8.decode(ByteBuffer.wrap(plaintext));
      char[] array = Arrays.copyOf(chars.array(), chars.limit());
      Arrays.fill(chars.array(), '\0');
      try {
        return Optional.of(Pin.of(array));
      } finally {
        Arrays.fill(array, '\0');
      }
    } catch (GeneralSecurityException e) {
      return Optional.empty();
    } finally {
      if (plaintext != null) {
        Arrays.fill(plaintext, (byte) 0);
      }
    }
  }

  /**
   * 256-bit HMAC-SHA256 keys for {@code purpose}, one derived from each key this node holds, the
   * configured file's first (its files read again first if it changed, as before sealing). Each is
   * derived with HKDF-SHA256 (RFC 5869: no salt, {@code purpose} in UTF-8 as the info): the same purpose
   * always gives the same key under the same master key; different purposes give independent keys; none
   * reveals a master key or another derived key. A purpose names its use and version, e.g.
   * {@code "keyhold audit log v1"}.
   */
  public ImmutableList<SecretKey> deriveKeys(String purpose) {
    checkArgument(!purpose.isEmpty(), "a purpose is required");
    refreshIfChanged();
    return ring.keys().stream().map(key -> derive(key.secret(), purpose)).collect(ImmutableList.toImmutableList());
  }

  private static SecretKey derive(SecretKey master, String purpose) {
    byte[] masterBytes = master.getEncoded();
    byte[] pseudoRandomKey = null;
    byte[] derived = null;
    try {
      Mac mac = Mac.getInstance(HMAC);
      mac.init(new SecretKeySpec(new byte[KEY_BYTES], HMAC)); // HKDF-Extract; no salt is HashLen zero bytes
      pseudoRandomKey = mac.doFinal(masterBytes);
      mac.init(new SecretKeySpec(pseudoRandomKey, HMAC)); // HKDF-Expand: one block is the 32 bytes wanted
      mac.update(purpose.getBytes(StandardCharsets.UTF_8));
      mac.update((byte) 1);
      derived = mac.doFinal();
      return new SecretKeySpec(derived, HMAC);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HMAC-SHA256 failed", e);
    } finally {
      Arrays.fill(masterBytes, (byte) 0);
      if (pseudoRandomKey != null) {
        Arrays.fill(pseudoRandomKey, (byte) 0);
      }
      if (derived != null) {
        Arrays.fill(derived, (byte) 0);
      }
    }
  }

  private static Cipher cipher(SecretKey key, int mode, byte[] iv, String context) throws GeneralSecurityException {
    Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
    cipher.init(mode, key, new GCMParameterSpec(128, iv));
    cipher.updateAAD(context.getBytes(StandardCharsets.UTF_8));
    return cipher;
  }

  private static byte[] utf8(char[] chars) {
    ByteBuffer encoded = StandardCharsets.UTF_8.encode(CharBuffer.wrap(chars));
    byte[] bytes = new byte[encoded.remaining()];
    encoded.get(bytes);
    encoded.clear().put(new byte[encoded.capacity()]); // wipe the encoder's copy
    return bytes;
  }

  /** What changes when the file is replaced or written: its inode and its modification time. */
  private static List<Object> stampOf(Path file) {
    try {
      BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
      return Arrays.asList(attributes.fileKey(), attributes.lastModifiedTime());
    } catch (IOException e) {
      return List.of(); // unreadable for a moment: read again next time
    }
  }

  @Override
  public String toString() {
    return "MasterKey[redacted]";
  }

  /** One key and its id: the first 8 bytes of HMAC-SHA256(key, a fixed label), which reveal nothing of it. */
  record Key(SecretKey secret, byte[] id) {
    static Key of(byte[] bytes) {
      SecretKey secret = new SecretKeySpec(bytes, "AES");
      try {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(bytes, "HmacSHA256"));
        byte[] id = Arrays.copyOf(mac.doFinal("keyhold master key id v1".getBytes(StandardCharsets.UTF_8)), ID_BYTES);
        return new Key(secret, id);
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("HMAC-SHA256 failed", e);
      }
    }

    /** Reads a key file, refusing one that others can read or that is not 32 bytes. */
    static Key read(Path file) throws IOException {
      Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(file);
      if (!OWNER_ONLY.containsAll(permissions)) {
        throw new IllegalStateException("master key file " + file + " is readable by others ("
            + PosixFilePermissions.toString(permissions) + "); make it 0600");
      }
      byte[] bytes = Files.readAllBytes(file);
      try {
        if (bytes.length != KEY_BYTES) {
          throw new IllegalStateException("master key file " + file + " must hold exactly " + KEY_BYTES + " bytes");
        }
        return of(bytes);
      } finally {
        Arrays.fill(bytes, (byte) 0);
      }
    }

    @Override
    public String toString() {
      return "Key[" + BaseEncoding.base16().lowerCase().encode(id) + "]";
    }
  }

  /** The keys of the three files as read at one moment: the configured file's first. */
  private record Ring(ImmutableList<Key> keys, List<Object> stamp) {
    static Ring read(Path file) {
      try {
        List<Object> stamp = stampOf(file);
        List<Key> keys = new ArrayList<>();
        keys.add(Key.read(file));
        for (Path sibling : List.of(nextFile(file), previousFile(file))) {
          try {
            keys.add(Key.read(sibling));
          } catch (NoSuchFileException absent) {
            // no rotation under way, or none done
          }
        }
        return new Ring(ImmutableList.copyOf(keys), stamp);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read the master key file " + file, e);
      }
    }

    Key current() {
      return keys.get(0);
    }

    Optional<Key> find(byte[] id) {
      return keys.stream().filter(key -> Arrays.equals(key.id(), id)).findFirst();
    }
  }
}
