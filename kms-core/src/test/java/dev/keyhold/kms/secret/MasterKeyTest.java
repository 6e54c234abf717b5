package dev.keyhold.kms.secret;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.pkcs11.Pin;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.SecretKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MasterKeyTest {
  @TempDir Path directory;

  @Test
  void isCreatedOnceWithOwnerOnlyPermissions() throws Exception {
    Path file = directory.resolve("keys/master.key");
    MasterKey first = MasterKey.loadOrCreate(file);

    assertThat(Files.size(file)).isEqualTo(32);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    SealedSecret sealed = first.seal(Pin.of("kmsuser-password".toCharArray()), "cks-1");
    assertThat(MasterKey.loadOrCreate(file).open(sealed, "cks-1").appearsIn("kmsuser-password")).isTrue();
    assertThat(first).hasToString("MasterKey[redacted]");
  }

  @Test
  void refusesAFileOthersCanRead() throws Exception {
    Path file = directory.resolve("master.key");
    MasterKey.loadOrCreate(file);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
    assertThatThrownBy(() -> MasterKey.loadOrCreate(file)).hasMessageContaining("0600");
  }

  @Test
  void aSealedSecretOpensOnlyUnderItsKeyAndContext() {
    MasterKey key = MasterKey.loadOrCreate(directory.resolve("a.key"));
    MasterKey other = MasterKey.loadOrCreate(directory.resolve("b.key"));
    SealedSecret sealed = key.seal(Pin.of("secret-text".toCharArray()), "cks-1");

    assertThat(sealed.toString()).doesNotContain("secret");
    assertThat(sealed.toBase64()).doesNotContain("secret-text");
    assertThat(SealedSecret.fromBase64(sealed.toBase64())).isEqualTo(sealed);
    assertThatThrownBy(() -> key.open(sealed, "cks-2")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageNotContaining("secret-text");
    assertThatThrownBy(() -> other.open(sealed, "cks-1")).isInstanceOf(IllegalArgumentException.class);
    assertThat(key.seal(Pin.of("secret-text".toCharArray()), "cks-1")).as("a fresh IV every time").isNotEqualTo(sealed);
  }

  @Test
  void derivesKeysWithHkdfSha256FromEveryKeyItHoldsTheConfiguredOneFirst() throws Exception {
    Path file = directory.resolve("master.key");
    byte[] masterBytes = new byte[32];
    for (int i = 0; i < masterBytes.length; i++) {
      masterBytes[i] = (byte) i;
    }
    Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.write(file, masterBytes);
    MasterKey key = MasterKey.load(file);

    SecretKey audit = key.deriveKeys("keyhold audit log v1").get(0);
    // Computed apart from this code, with Python's hmac module, as RFC 5869 describes HKDF.
    assertThat(HexFormat.of().formatHex(audit.getEncoded()))
        .isEqualTo("69aba34a514f8d45aa1c4536f95c9c15758189483d5d9a9fad3460af45ea275b");
    assertThat(audit.getAlgorithm()).isEqualTo("HmacSHA256");
    assertThat(key.deriveKeys("keyhold audit log v1")).singleElement()
        .extracting(SecretKey::getEncoded).isEqualTo(audit.getEncoded());
    assertThat(key.deriveKeys("another purpose").get(0).getEncoded()).isNotEqualTo(audit.getEncoded());
    assertThat(audit.getEncoded()).isNotEqualTo(masterBytes);
    assertThatThrownBy(() -> key.deriveKeys("")).isInstanceOf(IllegalArgumentException.class);

    MasterKey.createKeyFile(MasterKey.previousFile(file));
    key.reload();
    List<SecretKey> both = key.deriveKeys("keyhold audit log v1");
    assertThat(both).hasSize(2);
    assertThat(both.get(0).getEncoded()).isEqualTo(audit.getEncoded());
    assertThat(both.get(1).getEncoded()).isNotEqualTo(audit.getEncoded());
  }
}
