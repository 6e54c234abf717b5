package dev.keyhold.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdk.jfr.Recording;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JfrBreakdownTest {
  private static final long SPIN_NANOS = 1_500_000_000L;

  @TempDir Path directory;
  private volatile long sink;

  @Test
  void aSampleCountsForThePartThatNamesOneOfItsFrames() throws Exception {
    Path file = directory.resolve("spin.jfr");
    try (Recording recording = JfrBreakdown.newRecording()) {
      recording.start();
      spinInsideThePart();
      recording.stop();
      recording.dump(file);
    }
    List<JfrBreakdown.Part> parts = List.of(
        new JfrBreakdown.Part("the spinning part", JfrBreakdownTest.class.getName() + ".spinInsideThePart"),
        new JfrBreakdown.Part("a part nothing runs in", "no.such.Class"));
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    JfrBreakdown.of(file, parts).print(new PrintStream(printed, true, StandardCharsets.UTF_8), 100, 2048);
    String text = printed.toString(StandardCharsets.UTF_8);

    // The test's thread spins far longer than anything else runs; the helper it calls counts for the part.
    Matcher spinning = Pattern.compile("(?m)^\\s+([\\d.]+)%\\s+([\\d.]+) us  the spinning part$").matcher(text);
    assertThat(spinning.find()).as(text).isTrue();
    assertThat(Double.parseDouble(spinning.group(1))).as(text).isGreaterThan(50);
    assertThat(text).doesNotContain("a part nothing runs in").contains("Allocated 2.0 KiB per request");
  }

  private void spinInsideThePart() {
    long end = System.nanoTime() + SPIN_NANOS;
    while (System.nanoTime() < end) {
      sink = mix(sink);
    }
  }

  private static long mix(long value) {
    return value * 6364136223846793005L + 1442695040888963407L;
  }
}
