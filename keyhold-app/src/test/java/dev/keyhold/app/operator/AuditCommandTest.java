package dev.keyhold.app.operator;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.app.KeyholdCommand;
import dev.keyhold.app.LocalBackend;
import dev.keyhold.app.LocalKeyhold;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.ops.AuditLog;
import dev.keyhold.server.ops.RequestOutcome;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code bin/keyhold audit verify}, run as an operator runs it: its output and exit codes. */
class AuditCommandTest {
  @TempDir Path work;
  private Path config;
  private Path log;
  private MasterKey masterKey;

  @BeforeEach
  void node() throws IOException {
    Path masterKeyFile = work.resolve("master.key");
    masterKey = MasterKey.loadOrCreate(masterKeyFile);
    log = work.resolve("audit-node-1.log");
    config = Files.writeString(work.resolve("node.yaml"), """
        node: node-1
        listen:
          host: 127.0.0.1
          port: 0
        account:
          id: "111122223333"
          region: us-east-1
        clusters: %s
        metadata:
          h2: %s
        masterKey: %s
        auditLog: %s
        """.formatted(work.resolve("clusters.json"), work.resolve("h2"), masterKeyFile, log));
  }

  @Test
  void anUntouchedLogVerifies() throws IOException {
    writeRun(log, 3);

    Run run = keyhold("audit", "verify", "--config", config.toString(), "--closed");
    assertThat(run.exitCode).isZero();
    assertThat(run.out).isEqualTo(log + ": 5 lines verified, closed\n");
    assertThat(run.err).isEmpty();
  }

  @Test
  void aChangedLineIsReportedByItsNumberWithExitCode1() throws IOException {
    writeRun(log, 3);
    List<String> lines = Files.readAllLines(log, UTF_8);
    lines.set(2, lines.get(2).replace("\"outcome\":\"success\"", "\"outcome\":\"AccessDeniedException\""));
    Files.write(log, lines, UTF_8);

    Run run = keyhold("audit", "verify", "--config", config.toString());
    assertThat(run.exitCode).isEqualTo(1);
    assertThat(run.out).isEqualTo(log + ": 2 lines verified before line 3\n");
    assertThat(run.err).isEqualTo(log + ": line 3: changed: its MAC does not match its content and line 2\n");
  }

  @Test
  void aTornLastLineIsReportedAsTornWithExitCode1() throws IOException {
    writeRun(log, 2);
    Files.writeString(log, "{\"time\":\"2025-01-02T03:04:05Z\",\"requestId\":\"cut-sh", StandardOpenOption.APPEND);

    Run run = keyhold("audit", "verify", "--config", config.toString());
    assertThat(run.exitCode).isEqualTo(1);
    assertThat(run.err).startsWith(log + ": line 5: torn: the last line was cut short");
  }

  @Test
  void rotatedFilesAreVerifiedAsOneChainOldestFirst() throws Exception {
    Path rotated = work.resolve("audit-node-1.log.1");
    try (AuditLog audit = AuditLog.toFile(log, masterKey)) {
      audit.completed(outcome("before"));
      Files.move(log, rotated);
      Thread.sleep(1_100); // the writer looks at its path at most once a second
      audit.completed(outcome("after"));
    }

    Run both = keyhold("audit", "verify", "--config", config.toString(), "--log", rotated.toString(),
        "--log", log.toString());
    assertThat(both.exitCode).isZero();
    assertThat(both.out).isEqualTo(rotated + ": 3 lines verified, closed\n" + log + ": 3 lines verified, closed\n");
    Run newest = keyhold("audit", "verify", "--config", config.toString());
    assertThat(newest.exitCode).isZero();
    assertThat(newest.out).startsWith(log + ": line 1: continues the chain of the file before it (sequence 3)");
    Run reversed = keyhold("audit", "verify", "--config", config.toString(), "--log", log.toString(),
        "--log", rotated.toString());
    assertThat(reversed.exitCode).isEqualTo(1);
    assertThat(reversed.err).startsWith(rotated + ": line 1: starts a new chain");
  }

  @Test
  void theEmbeddedDefaultsHomeHasItsOwn() throws IOException {
    Path home = work.resolve("home");
    MasterKey homeKey = MasterKey.loadOrCreate(home.resolve(LocalBackend.MASTER_KEY));
    try (AuditLog audit = AuditLog.toFile(home.resolve(LocalKeyhold.AUDIT_LOG), homeKey)) {
      audit.completed(outcome("request-1"));
    }

    Run run = keyhold("audit", "verify", "--home", home.toString());
    assertThat(run.exitCode).isZero();
    assertThat(run.out).isEqualTo(home.resolve("audit.log") + ": 3 lines verified, closed\n");
    Run otherKey = keyhold("audit", "verify", "--config", config.toString(), "--log",
        home.resolve("audit.log").toString());
    assertThat(otherKey.exitCode).isEqualTo(1);
    assertThat(otherKey.err).contains(": line 1: MACed under the audit key ");
  }

  @Test
  void whatCannotBeVerifiedExitsWith2() throws IOException {
    Run missing = keyhold("audit", "verify", "--config", config.toString());
    assertThat(missing.exitCode).isEqualTo(2);
    assertThat(missing.err).startsWith("cannot verify: ").contains(log.toString());

    Run both = keyhold("audit", "verify", "--config", config.toString(), "--home", work.toString());
    assertThat(both.exitCode).isEqualTo(CommandLine.ExitCode.USAGE);
    Run neither = keyhold("audit", "verify");
    assertThat(neither.exitCode).isEqualTo(CommandLine.ExitCode.USAGE);
  }

  private void writeRun(Path file, int requests) throws IOException {
    try (AuditLog audit = AuditLog.toFile(file, masterKey)) {
      for (int i = 1; i <= requests; i++) {
        audit.completed(outcome("request-" + i));
      }
    }
  }

  private static RequestOutcome outcome(String requestId) {
    return new RequestOutcome(Instant.parse("2025-01-02T03:04:05Z"), requestId,
        Optional.of("arn:aws:iam::111122223333:user/app"), "Encrypt", Optional.empty(), Optional.empty(), List.of(), 200,
        Optional.empty(), 1_000_000);
  }

  private record Run(int exitCode, String out, String err) {}

  /** Runs {@code bin/keyhold} with {@code args} in this JVM, capturing what it prints. */
  private static Run keyhold(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream originalOut = System.out;
    PrintStream originalErr = System.err;
    System.setOut(new PrintStream(out, true, UTF_8));
    System.setErr(new PrintStream(err, true, UTF_8));
    try {
      int exitCode = new CommandLine(new KeyholdCommand()).execute(args);
      return new Run(exitCode, out.toString(UTF_8), err.toString(UTF_8));
    } finally {
      System.setOut(originalOut);
      System.setErr(originalErr);
    }
  }
}
