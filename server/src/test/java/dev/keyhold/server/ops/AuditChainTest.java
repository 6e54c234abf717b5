package dev.keyhold.server.ops;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.ops.AuditLogVerifier.Kind;
import dev.keyhold.server.ops.AuditLogVerifier.Problem;
import dev.keyhold.server.ops.AuditLogVerifier.Verification;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audit log's chain, on real files: what the writer leaves across restarts, crashes and renaming,
 * and what the verifier finds when lines are changed, removed, reordered or cut short.
 */
class AuditChainTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Ten requests between the open line and the close line. */
  private static final int LINES = 12;

  @TempDir Path directory;
  private MasterKey masterKey;
  private AuditLogVerifier verifier;
  private Path log;
  private int requests;

  @BeforeEach
  void setUp() {
    masterKey = MasterKey.loadOrCreate(directory.resolve("master.key"));
    verifier = AuditLogVerifier.of(masterKey);
    log = directory.resolve("audit.log");
  }

  @Test
  void anUntouchedLogVerifies() throws IOException {
    writeRun(10);

    Verification verification = verifier.verify(List.of(log), true);
    assertThat(verification.problem()).isEmpty();
    assertThat(verification.files()).singleElement().satisfies(file -> {
      assertThat(file.verifiedLines()).isEqualTo(LINES);
      assertThat(file.closed()).isTrue();
      assertThat(file.notes()).isEmpty();
    });
  }

  @Test
  void editingAFieldOfAnyLineIsFoundAtThatLine() throws IOException {
    writeRun(10);
    List<String> lines = lines(log);

    for (int i = 0; i < LINES; i++) {
      List<String> edited = new ArrayList<>(lines);
      edited.set(i, edited.get(i).replaceFirst("\"time\":\"2", "\"time\":\"3"));
      rewrite(edited);
      assertProblem("line " + (i + 1) + " edited", i + 1, Kind.CHANGED);
    }
    for (String[] edit : List.of(new String[] {"\"outcome\":\"success\"", "\"outcome\":\"AccessDeniedException\""},
        new String[] {"\"requestId\":\"request-4\"", "\"requestId\":\"request-X\""},
        new String[] {"\"seq\":5,", "\"seq\":6,"},
        new String[] {"\"mac\":\"", "\"mac\":\"0"})) {
      List<String> edited = new ArrayList<>(lines);
      edited.set(4, edited.get(4).replace(edit[0], edit[1]));
      rewrite(edited);
      assertThat(problem().line()).as("%s -> %s", edit[0], edit[1]).isEqualTo(5);
    }
  }

  @Test
  void deletingAnyLineIsFoundWhereItWas() throws IOException {
    writeRun(10);
    List<String> lines = lines(log);

    for (int i = 0; i < LINES; i++) {
      List<String> shorter = new ArrayList<>(lines);
      shorter.remove(i);
      rewrite(shorter);
      assertProblem("line " + (i + 1) + " deleted", i + 1, Kind.REMOVED);
    }
  }

  @Test
  void reorderingTwoLinesIsFoundAtTheFirst() throws IOException {
    writeRun(10);
    List<String> lines = lines(log);

    for (int i = 0; i < LINES - 1; i++) {
      for (int j : List.of(i + 1, Math.min(i + 5, LINES - 1))) {
        if (j == i) {
          continue;
        }
        List<String> swapped = new ArrayList<>(lines);
        Collections.swap(swapped, i, j);
        rewrite(swapped);
        Problem problem = assertProblem("lines " + (i + 1) + " and " + (j + 1) + " swapped", i + 1, Kind.REORDERED);
        assertThat(problem.detail()).contains("line " + (j + 1) + " is the one that follows");
      }
    }
  }

  @Test
  void truncatingTheEndIsFoundWhereTheLinesWereRemoved() throws IOException {
    writeRun(10);
    List<String> lines = lines(log);

    rewrite(lines.subList(0, LINES - 3));
    Problem removed = verifier.verify(List.of(log), true).problem().orElseThrow();
    assertThat(removed.line()).isEqualTo(LINES - 2);
    assertThat(removed.kind()).isEqualTo(Kind.REMOVED);
    assertThat(removed.toString()).isEqualTo(log + ": line 10: missing: the file ends after line 9 without its "
        + "close line: lines were removed from its end, or its writer was killed");
    // While its writer may still be running, a log's end cannot be told from lines removed from it.
    Verification open = verifier.verify(List.of(log), false);
    assertThat(open.problem()).isEmpty();
    assertThat(open.files().get(0).closed()).isFalse();
    assertThat(open.files().get(0).verifiedLines()).isEqualTo(LINES - 3);

    Files.writeString(log, String.join("\n", lines).substring(0, Files.readString(log).length() + 40));
    assertThat(problem()).satisfies(problem -> {
      assertThat(problem.line()).isEqualTo(LINES - 2);
      assertThat(problem.kind()).isEqualTo(Kind.TORN);
    });
  }

  @Test
  void aTornLastLineIsReportedAsTorn() throws IOException {
    writeRun(10);
    String line = lines(log).get(5);
    Files.writeString(log, line.substring(0, line.length() / 2), StandardOpenOption.APPEND);

    Verification verification = verifier.verify(List.of(log), false);
    assertThat(verification.problem()).hasValueSatisfying(problem -> {
      assertThat(problem.line()).isEqualTo(LINES + 1);
      assertThat(problem.kind()).isEqualTo(Kind.TORN);
      assertThat(problem.detail()).startsWith("torn: the last line was cut short");
    });
    assertThat(verification.files().get(0).verifiedLines()).isEqualTo(LINES);
  }

  @Test
  void aRestartContinuesTheChain() throws IOException {
    writeRun(3);
    writeRun(3);

    List<String> lines = lines(log);
    assertThat(lines).hasSize(10);
    JsonNode reopened = JSON.readTree(lines.get(5));
    assertThat(reopened.get("event").asText()).isEqualTo("open");
    assertThat(reopened.get("reason").asText()).isEqualTo("continue");
    assertThat(reopened.get("previousMac").asText()).isEqualTo(JSON.readTree(lines.get(4)).get("mac").asText());
    assertThat(reopened.get("seq").asLong()).isEqualTo(6);
    Verification verification = verifier.verify(List.of(log), true);
    assertThat(verification.problem()).isEmpty();
    assertThat(verification.files().get(0).verifiedLines()).isEqualTo(10);
    assertThat(verification.files().get(0).notes()).isEmpty();
  }

  @Test
  void afterALineACrashCutShortTheWriterStartsANewLineAndTheChainGoesOn() throws IOException {
    writeRun(3);
    String line = lines(log).get(2);
    String torn = line.substring(0, line.length() / 2);
    Files.writeString(log, torn, StandardOpenOption.APPEND);
    writeRun(2);

    List<String> lines = lines(log);
    assertThat(lines.get(5)).isEqualTo(torn);
    assertThat(JSON.readTree(lines.get(6)).get("previousMac").asText())
        .isEqualTo(JSON.readTree(lines.get(4)).get("mac").asText());
    Verification verification = verifier.verify(List.of(log), true);
    assertThat(verification.problem()).isEmpty();
    assertThat(verification.files().get(0).verifiedLines()).isEqualTo(9);
    assertThat(verification.files().get(0).notes()).singleElement().satisfies(note -> {
      assertThat(note.line()).isEqualTo(6);
      assertThat(note.text()).startsWith("torn: cut short by a crash; its writer started again at line 7");
    });
    // The torn line is no way to hide a line: the writer's next line names the line before it.
    lines.set(4, torn);
    rewrite(lines);
    assertThat(problem().line()).isEqualTo(5);
  }

  @Test
  void aWriterThatStartsAgainWithoutHavingClosedTheFileIsNoted() throws IOException {
    writeRun(3);
    List<String> lines = lines(log);
    rewrite(lines.subList(0, lines.size() - 1)); // as a writer killed before its close line leaves it
    writeRun(1);

    Verification verification = verifier.verify(List.of(log), true);
    assertThat(verification.problem()).isEmpty();
    assertThat(verification.files().get(0).notes()).singleElement().satisfies(note -> {
      assertThat(note.line()).isEqualTo(5);
      assertThat(note.text()).contains("without having closed the file after line 4");
    });
  }

  @Test
  void aRenamedLogGoesOnInANewFileThatContinuesTheChain() throws Exception {
    for (boolean createdByLogrotate : List.of(false, true)) {
      Path rotated = directory.resolve("audit.log.1");
      try (AuditLog audit = AuditLog.toFile(log, masterKey)) {
        write(audit, 2);
        Files.move(log, rotated);
        if (createdByLogrotate) {
          Files.createFile(log);
        }
        Thread.sleep(1_100); // the writer looks at the path at most once a second
        write(audit, 2);
      }

      assertThat(lines(rotated)).hasSize(4).last().asString().contains("\"event\":\"close\"");
      JsonNode first = JSON.readTree(lines(log).get(0));
      assertThat(first.get("reason").asText()).isEqualTo("rotate");
      assertThat(first.get("previousMac").asText()).isEqualTo(JSON.readTree(lines(rotated).get(3)).get("mac").asText());
      Verification joined = verifier.verify(List.of(rotated, log), true);
      assertThat(joined.problem()).isEmpty();
      assertThat(joined.files()).extracting(AuditLogVerifier.FileVerification::verifiedLines).containsExactly(4L, 4L);
      Verification alone = verifier.verify(List.of(log), true);
      assertThat(alone.problem()).isEmpty();
      assertThat(alone.files().get(0).notes()).singleElement().extracting(AuditLogVerifier.Note::text).asString()
          .startsWith("continues the chain of the file before it (sequence 4)");
      assertThat(verifier.verify(List.of(log, rotated), true).problem().orElseThrow().file()).isEqualTo(rotated);

      Files.delete(rotated);
      Files.delete(log);
    }
  }

  @Test
  void aMissingRotatedFileIsFoundWhereTheFilesShouldJoin() throws Exception {
    Path first = directory.resolve("audit.log.2");
    Path second = directory.resolve("audit.log.1");
    try (AuditLog audit = AuditLog.toFile(log, masterKey)) {
      for (Path rotated : List.of(first, second)) {
        write(audit, 1);
        Files.move(log, rotated);
        Thread.sleep(1_100); // the writer looks at the path at most once a second
      }
      write(audit, 1);
    }

    assertThat(verifier.verify(List.of(first, second, log), true).problem()).isEmpty();
    assertThat(verifier.verify(List.of(first, log), true).problem()).hasValueSatisfying(problem -> {
      assertThat(problem.file()).isEqualTo(log);
      assertThat(problem.line()).isEqualTo(1);
      assertThat(problem.kind()).isEqualTo(Kind.REMOVED);
      assertThat(problem.detail()).startsWith("does not continue " + first + ": it follows another file's last line");
    });
  }

  @Test
  void rotatedFilesMayBeCompressed() throws Exception {
    Path rotated = directory.resolve("audit.log.1");
    writeRun(2);
    Files.move(log, rotated);
    writeRun(2);
    Path compressed = directory.resolve("audit.log.1.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(compressed))) {
      Files.copy(rotated, out);
    }

    // The writer was stopped when the file was renamed: the new file starts a chain of its own.
    assertThat(verifier.verify(List.of(compressed), true).problem()).isEmpty();
    assertThat(verifier.verify(List.of(compressed, log), true).problem()).hasValueSatisfying(problem -> {
      assertThat(problem.file()).isEqualTo(log);
      assertThat(problem.detail()).startsWith("starts a new chain: it does not continue " + compressed);
    });
  }

  @Test
  void copytruncateLosesLinesAndShowsAsLinesRemoved() throws IOException {
    Path copy = directory.resolve("audit.log.1");
    try (AuditLog audit = AuditLog.toFile(log, masterKey)) {
      write(audit, 3);
      Files.copy(log, copy);
      write(audit, 1); // between the copy and the truncation: in neither file
      Files.write(log, new byte[0]);
      write(audit, 2);
    }

    assertThat(verifier.verify(List.of(log), true).problem()).hasValueSatisfying(problem -> {
      assertThat(problem.line()).isEqualTo(1);
      assertThat(problem.kind()).isEqualTo(Kind.REMOVED);
    });
    assertThat(verifier.verify(List.of(copy, log), true).problem()).hasValueSatisfying(problem -> {
      assertThat(problem.file()).isEqualTo(copy);
      assertThat(problem.detail()).startsWith("missing: the file ends after line 4 without its close line");
    });
  }

  @Test
  void aLogOfAnotherMasterKeyIsReportedAtItsFirstLine() throws IOException {
    writeRun(1);

    MasterKey other = MasterKey.loadOrCreate(directory.resolve("other.key"));
    assertThat(AuditLogVerifier.of(other).verify(List.of(log), true).problem()).hasValueSatisfying(problem -> {
      assertThat(problem.line()).isEqualTo(1);
      assertThat(problem.kind()).isEqualTo(Kind.WRONG_KEY);
    });
  }

  @Test
  void linesOfAnEarlierReleaseBeforeTheChainAreNotedButNoneAfterIt() throws IOException {
    String unchained = "{\"time\":\"2025-01-02T03:04:05Z\",\"requestId\":\"old\",\"operation\":\"Encrypt\"}";
    Files.writeString(log, unchained + "\n" + unchained + "\n");
    writeRun(2);

    Verification verification = verifier.verify(List.of(log), true);
    assertThat(verification.problem()).isEmpty();
    assertThat(verification.files().get(0).verifiedLines()).isEqualTo(4);
    assertThat(verification.files().get(0).notes()).singleElement().satisfies(note -> assertThat(note.text())
        .isEqualTo("lines 1-2 are not chained (written by an earlier release, or cut short before the chain began): "
            + "not verified"));

    Files.writeString(log, unchained + "\n", StandardOpenOption.APPEND);
    assertThat(problem()).satisfies(problem -> {
      assertThat(problem.line()).isEqualTo(7);
      assertThat(problem.kind()).isEqualTo(Kind.CHANGED);
    });
  }

  @Test
  void aRotatedMasterKeyIsFollowedWithAKeyChangeLine() throws Exception {
    Path keyFile = directory.resolve("master.key");
    try (AuditLog audit = AuditLog.toFile(log, masterKey)) {
      write(audit, 2);
      rotate(keyFile);
      Thread.sleep(1_100); // the writer looks at the master key at most once a second
      write(audit, 2);
    }

    List<String> lines = lines(log);
    assertThat(lines).hasSize(7);
    String oldKey = JSON.readTree(lines.get(0)).get("keyId").asText();
    JsonNode change = JSON.readTree(lines.get(3));
    assertThat(change.get("event").asText()).isEqualTo("keyChange");
    assertThat(change.get("keyId").asText()).isEqualTo(oldKey);
    String newKey = change.get("newKeyId").asText();
    assertThat(newKey).isNotEqualTo(oldKey);
    assertThat(lines.subList(4, 7)).allSatisfy(line -> assertThat(JSON.readTree(line).get("keyId").asText())
        .isEqualTo(newKey));
    // As a node holds the master key after a rotation: the new key, and the old one as FILE.previous.
    Verification verification = AuditLogVerifier.of(MasterKey.load(keyFile)).verify(List.of(log), true);
    assertThat(verification.problem()).isEmpty();
    assertThat(verification.files().get(0).verifiedLines()).isEqualTo(7);
    // The key changes only where a key change line says so.
    lines.remove(3);
    rewrite(lines);
    assertThat(AuditLogVerifier.of(MasterKey.load(keyFile)).verify(List.of(log), true).problem())
        .hasValueSatisfying(problem -> {
          assertThat(problem.line()).isEqualTo(4);
          assertThat(problem.kind()).isEqualTo(Kind.REMOVED);
        });
  }

  @Test
  void aWriterStartedAfterARotationGoesOnUnderTheNewKeyAndTheOldLinesNeedTheOldKey() throws Exception {
    Path keyFile = directory.resolve("master.key");
    writeRun(1);
    rotate(keyFile);
    writeRun(1);

    List<String> lines = lines(log);
    assertThat(JSON.readTree(lines.get(3)).get("reason").asText()).isEqualTo("continue");
    assertThat(JSON.readTree(lines.get(3)).get("keyId").asText())
        .isNotEqualTo(JSON.readTree(lines.get(2)).get("keyId").asText());
    assertThat(AuditLogVerifier.of(MasterKey.load(keyFile)).verify(List.of(log), true).problem()).isEmpty();
    Files.delete(keyFile.resolveSibling("master.key.previous"));
    assertThat(AuditLogVerifier.of(MasterKey.load(keyFile)).verify(List.of(log), true).problem())
        .hasValueSatisfying(problem -> {
          assertThat(problem.line()).isEqualTo(1);
          assertThat(problem.kind()).isEqualTo(Kind.WRONG_KEY);
          assertThat(problem.detail()).contains("which no key of this master key's files derives");
        });
  }

  @Test
  void neitherTheMasterKeyNorTheAuditKeyIsWrittenOrShown() throws IOException {
    writeRun(2);

    String derived = HexFormat.of().formatHex(masterKey.deriveKeys(AuditKey.PURPOSE).get(0).getEncoded());
    String master = HexFormat.of().formatHex(Files.readAllBytes(directory.resolve("master.key")));
    AuditKey key = AuditKey.current(masterKey);
    assertThat(key.id()).matches("[0-9a-f]{16}");
    assertThat(key).hasToString("AuditKey[" + key.id() + "]");
    assertThat(Files.readString(log)).doesNotContain(derived).doesNotContain(master);
  }

  /**
   * What {@code bin/keyhold master-key rotate} leaves: the old key beside the file as
   * {@code FILE.previous}, a new one in its place (renamed over it, as the rotation does).
   */
  private static void rotate(Path keyFile) throws IOException {
    Files.copy(keyFile, keyFile.resolveSibling("master.key.previous"), StandardCopyOption.COPY_ATTRIBUTES);
    Path next = keyFile.resolveSibling("master.key.next");
    Files.createFile(next, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    byte[] bytes = new byte[32];
    new SecureRandom().nextBytes(bytes);
    Files.write(next, bytes);
    Files.move(next, keyFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /** One run of a writer: opens the log, writes {@code count} request lines, closes it. */
  private void writeRun(int count) throws IOException {
    try (AuditLog audit = AuditLog.toFile(log, masterKey)) {
      write(audit, count);
    }
  }

  private void write(AuditLog audit, int count) {
    for (int i = 0; i < count; i++) {
      audit.completed(Outcomes.encrypt("request-" + ++requests, List.of("purpose"), Duration.ofMillis(1)));
    }
    assertThat(audit.writeFailures()).isZero();
  }

  private Problem assertProblem(String what, long line, Kind kind) throws IOException {
    Problem problem = problem();
    assertThat(problem.line()).as("%s: %s", what, problem).isEqualTo(line);
    assertThat(problem.kind()).as("%s: %s", what, problem).isEqualTo(kind);
    return problem;
  }

  private Problem problem() throws IOException {
    return verifier.verify(List.of(log), true).problem().orElseThrow(() -> new AssertionError("no problem found"));
  }

  private static List<String> lines(Path file) throws IOException {
    return new ArrayList<>(Files.readAllLines(file, UTF_8));
  }

  private void rewrite(List<String> lines) throws IOException {
    Files.writeString(log, String.join("\n", lines) + "\n");
  }
}
