package dev.keyhold.kms.secret;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.pkcs11.Pin;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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
}
