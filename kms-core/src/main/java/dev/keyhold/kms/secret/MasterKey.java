package dev.keyhold.kms.secret;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.pkcs11.Pin;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Set;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The service master key: 256 random bits in a file of their own, outside the metadata store, that
 * encrypt the secrets the store keeps (the kmsuser passwords). Whoever holds the database alone learns
 * no password.
 *
 * <p>{@link #loadOrCreate} creates the file with mode 0600 on first start; an operator may supply one
 * instead (32 raw bytes, mode 0600 or stricter). A file readable by group or others is refused.
 * Secrets are sealed with AES-256-GCM in software: version byte, 12-byte random IV, ciphertext and
 * tag, with the caller's context (e.g. the key store id) as associated data, so a sealed password
 * cannot be moved to another record.
 */
public final class MasterKey {
  private static final int KEY_BYTES = 32;
  private static final byte VERSION = 1;
  private static final int IV_BYTES = 12;
  private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

  private final SecretKey key;
  private final SecureRandom random = new SecureRandom();

  private MasterKey(SecretKey key) {
    this.key = key;
  }

  /** Reads the key at {@code file}, creating it (mode 0600) if absent. */
  public static MasterKey loadOrCreate(Path file) {
    checkNotNull(file, "file");
    try {
      if (!Files.exists(file)) {
        create(file);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the master key file " + file, e);
    }
    return load(file);
  }

  /**
   * Reads the key at {@code file}, which must exist: several nodes share one key, so none of them
   * may make its own.
   *
   * @throws IllegalStateException if the file is readable by others or is not a key
   * @throws UncheckedIOException if it cannot be read, or does not exist
   */
  public static MasterKey load(Path file) {
    checkNotNull(file, "file");
    try {
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
        return new MasterKey(new SecretKeySpec(bytes, "AES"));
      } finally {
        Arrays.fill(bytes, (byte) 0);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the master key file " + file, e);
    }
  }

  private static void create(Path file) throws IOException {
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

  /** Seals {@code secret}, bound to {@code context}. */
  public SealedSecret seal(Pin secret, String context) {
    checkNotNull(secret, "secret");
    byte[] plaintext = secret.withChars(MasterKey::utf8);
    try {
      byte[] iv = new byte[IV_BYTES];
      random.nextBytes(iv);
      Cipher cipher = cipher(Cipher.ENCRYPT_MODE, iv, context);
      byte[] sealed = new byte[1 + IV_BYTES + cipher.getOutputSize(plaintext.length)];
      sealed[0] = VERSION;
      System.arraycopy(iv, 0, sealed, 1, IV_BYTES);
      cipher.doFinal(plaintext, 0, plaintext.length, sealed, 1 + IV_BYTES);
      return SealedSecret.of(sealed);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed", e);
    } finally {
      Arrays.fill(plaintext, (byte) 0);
    }
  }

  /**
   * Opens what {@link #seal} made for the same {@code context}.
   *
   * @throws IllegalArgumentException if it was sealed under another key or context, or altered
   */
  public Pin open(SealedSecret sealed, String context) {
    byte[] bytes = sealed.bytes();
    checkArgument(bytes.length > 1 + IV_BYTES && bytes[0] == VERSION, "not a sealed secret of version %s", VERSION);
    byte[] plaintext = null;
    try {
      Cipher cipher = cipher(Cipher.DECRYPT_MODE, Arrays.copyOfRange(bytes, 1, 1 + IV_BYTES), context);
      plaintext = cipher.doFinal(bytes, 1 + IV_BYTES, bytes.length - 1 - IV_BYTES);
      CharBuffer chars = StandardCharsets.UTF_8.decode(ByteBuffer.wrap(plaintext));
      char[] array = Arrays.copyOf(chars.array(), chars.limit());
      Arrays.fill(chars.array(), '\0');
      try {
        return Pin.of(array);
      } finally {
        Arrays.fill(array, '\0');
      }
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("the sealed secret does not open under this master key and context");
    } finally {
      if (plaintext != null) {
        Arrays.fill(plaintext, (byte) 0);
      }
    }
  }

  private Cipher cipher(int mode, byte[] iv, String context) throws GeneralSecurityException {
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

  @Override
  public String toString() {
    return "MasterKey[redacted]";
  }
}
