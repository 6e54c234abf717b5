package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PinTest {
  @Test
  void neverShowsItsText() {
    Pin pin = Pin.of("hunter2-pin".toCharArray());
    assertThat(pin).hasToString("Pin[redacted]");
    assertThat(pin.appearsIn("the pin is hunter2-pin")).isTrue();
    assertThat(pin.appearsIn("the pin is hunter3")).isFalse();
  }

  @Test
  void copiesTheCallersArray() {
    char[] chars = "abcd".toCharArray();
    Pin pin = Pin.of(chars);
    chars[0] = 'x';
    assertThat(pin.appearsIn("abcd")).isTrue();
  }

  @Test
  void readsTheFirstLineOfAFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("pin");
    Files.writeString(file, "from-file\nignored\n");
    assertThat(Pin.fromFile(file).appearsIn("from-file")).isTrue();
    assertThat(Pin.fromFile(file).appearsIn("ignored")).isFalse();
    Files.writeString(file, "\n");
    assertThatThrownBy(() -> Pin.fromFile(file)).hasMessageNotContaining("\n").hasMessageContaining("empty");
  }

  @Test
  void namesAMissingVariableButNoValue() {
    assertThatThrownBy(() -> Pin.fromEnvironment("KEYHOLD_TEST_SURELY_UNSET"))
        .hasMessage("environment variable KEYHOLD_TEST_SURELY_UNSET is not set");
  }

  @Test
  void cloudHsmLogsInAsUserColonPassword() {
    Pin login = TokenProfile.AWS_CLOUDHSM.loginPin("kmsuser", Pin.of("pw".toCharArray()));
    assertThat(login.appearsIn("kmsuser:pw")).isTrue();
    assertThat(login).hasToString("Pin[redacted]");
  }

  @Test
  void randomPinsDiffer() {
    SecureRandom random = new SecureRandom();
    Pin first = Pin.random(random, 20);
    assertThat(first.appearsIn(Pin.random(random, 20).toString())).isFalse();
    assertThatThrownBy(() -> Pin.random(random, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Pin.of(new char[0])).isInstanceOf(IllegalArgumentException.class);
  }
}
