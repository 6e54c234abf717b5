package dev.keyhold.server.ops;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.ops.AuditLogVerifier.Verification;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A writer killed with SIGKILL under load, in a JVM of its own: every line it acknowledged (printed
 * after its write returned) is in the log and verifies, and at worst the last line is torn; a new
 * writer then goes on with the chain.
 */
class AuditLogKillTest {
  private static final int ACKNOWLEDGED_BEFORE_THE_KILL = 3_000;

  @TempDir Path directory;

  @Test
  void aWriterKilledUnderLoadLosesNoAcknowledgedLineAndTheNextGoesOn() throws Exception {
    Path keyFile = directory.resolve("master.key");
    MasterKey masterKey = MasterKey.loadOrCreate(keyFile);
    Path log = directory.resolve("audit.log");
    Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx64m",
        "-cp", System.getProperty("java.class.path"), Writer.class.getName(), keyFile.toString(), log.toString())
        .redirectError(directory.resolve("writer.err").toFile())
        .start();
    Set<String> acknowledged = new HashSet<>();
    try (BufferedReader acks = new BufferedReader(new InputStreamReader(child.getInputStream(), UTF_8))) {
      while (acknowledged.size() < ACKNOWLEDGED_BEFORE_THE_KILL) {
        String requestId = acks.readLine();
        assertThat(requestId).as("the writer acknowledges lines; its errors: %s",
            Files.readString(directory.resolve("writer.err"))).isNotNull();
        acknowledged.add(requestId);
      }
      // SIGKILL: no shutdown hook, no close line. Through the handle, which leaves the pipe open for what
      // was acknowledged before the kill.
      child.toHandle().destroyForcibly();
      for (String requestId = acks.readLine(); requestId != null; requestId = acks.readLine()) {
        acknowledged.add(requestId);
      }
    } finally {
      child.destroyForcibly();
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }

    AuditLogVerifier verifier = AuditLogVerifier.of(masterKey);
    Verification killed = verifier.verify(List.of(log), false);
    long lines = Files.readAllLines(log, UTF_8).size();
    killed.problem().ifPresent(problem -> {
      assertThat(problem.kind()).as("%s", problem).isEqualTo(AuditLogVerifier.Kind.TORN);
      assertThat(problem.line()).isEqualTo(lines);
    });
    assertThat(killed.files().get(0).closed()).isFalse();
    assertThat(requestIdsOfWholeLines(log)).containsAll(acknowledged);

    try (AuditLog again = AuditLog.toFile(log, masterKey)) {
      again.completed(Outcomes.encrypt("after-the-kill", List.of(), Duration.ofMillis(1)));
    }
    Verification restarted = verifier.verify(List.of(log), true);
    assertThat(restarted.problem()).isEmpty();
    assertThat(restarted.files().get(0).notes()).singleElement().satisfies(note -> assertThat(note.text())
        .matches(killed.problem().isPresent() ? "torn: cut short by a crash.*" : ".*without having closed the file.*"));
    assertThat(requestIdsOfWholeLines(log)).contains("after-the-kill");
  }

  private static Set<String> requestIdsOfWholeLines(Path log) throws IOException {
    ObjectMapper json = new ObjectMapper();
    Set<String> ids = new HashSet<>();
    for (String line : Files.readAllLines(log, UTF_8)) {
      if (AuditLine.isWhole(line)) {
        JsonNode requestId = json.readTree(line).get("requestId");
        if (requestId != null) {
          ids.add(requestId.asText());
        }
      }
    }
    return ids;
  }

  /**
   * The child: writes lines of some 16 KiB (several pages, so that a kill can cut one short) from four
   * threads, printing each request id once its line is written, until killed.
   */
  static final class Writer {
    private Writer() {}

    public static void main(String[] args) throws IOException {
      AuditLog log = AuditLog.toFile(Path.of(args[1]), MasterKey.load(Path.of(args[0])));
      List<String> contextKeys = List.of("k".repeat(16_000));
      for (int t = 0; t < 4; t++) {
        String thread = "writer-" + t;
        new Thread(() -> {
          for (long i = 0; ; i++) {
            String requestId = thread + "-" + i;
            log.completed(Outcomes.encrypt(requestId, contextKeys, Duration.ofMillis(1)));
            if (log.writeFailures() > 0) {
              System.exit(3);
            }
            System.out.println(requestId);
          }
        }, thread).start();
      }
    }
  }
}
