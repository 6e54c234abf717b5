package dev.keyhold.app;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bin/keyhold} that cannot start says why in one line, and exits 1. */
class KeyholdCommandTest {
  @TempDir Path work;

  @Test
  void aStartFailurePrintsOneLineAndNoStackTrace() throws Exception {
    Path notADirectory = Files.writeString(work.resolve("home"), "a file where the home should be");
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int exit = KeyholdCommand.run(new String[] {"--home", notADirectory.toString()},
        new PrintStream(err, true, StandardCharsets.UTF_8));

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo("keyhold: FileAlreadyExistsException: " + notADirectory + System.lineSeparator());
  }
}
