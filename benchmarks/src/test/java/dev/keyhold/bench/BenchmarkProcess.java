package dev.keyhold.bench;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a benchmark's main in a JVM of its own, as its script does: SoftHSM2 takes its configuration
 * from the environment, once per process.
 */
final class BenchmarkProcess {
  private BenchmarkProcess() {}

  /**
   * Runs {@code main} with {@code args} and SoftHSM2's configuration at {@code softHsmConfig}, waits at
   * most {@code timeoutSeconds} for it to end, prints what it printed, and returns that.
   */
  static Finished run(Class<?> main, Path softHsmConfig, Path output, long timeoutSeconds, List<String> args)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(KeyholdProcess.java(),
        "-Dlogback.configurationFile=logback-bench.xml", "-cp", System.getProperty("java.class.path"), main.getName()));
    command.addAll(args);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
    builder.environment().put("SOFTHSM2_CONF", softHsmConfig.toString());
    Process run = builder.start();
    assertThat(run.waitFor(timeoutSeconds, TimeUnit.SECONDS)).as("the run ended").isTrue();
    String printed = Files.readString(output, UTF_8);
    System.out.println(printed);
    return new Finished(run.exitValue(), printed);
  }

  /** How the run ended, and what it printed. */
  record Finished(int exitValue, String printed) {}
}
