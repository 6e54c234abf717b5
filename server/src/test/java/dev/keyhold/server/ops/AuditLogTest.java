package dev.keyhold.server.ops;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.secret.MasterKey;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

class AuditLogTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final List<String> FIELDS = List.of("time", "requestId", "principal", "operation", "keyArn",
      "sourceKeyArn", "encryptionContextKeys", "outcome", "httpStatus", "durationMillis");
  private static final List<String> CHAIN = List.of("seq", "keyId", "mac");

  @TempDir Path directory;
  private MasterKey masterKey;

  @BeforeEach
  void masterKey() {
    masterKey = MasterKey.loadOrCreate(directory.resolve("master.key"));
  }

  @Test
  void writesOneLineWithExactlyTheDocumentedFieldsBetweenTheOpenAndCloseLines() throws IOException {
    Path file = directory.resolve("audit.log");
    try (AuditLog log = AuditLog.toFile(file, masterKey)) {
      log.completed(Outcomes.encrypt("request-1", List.of("purpose", "tenant"), Duration.ofNanos(1_234_567)));
    }

    List<String> lines = Files.readAllLines(file, UTF_8);
    assertThat(lines).hasSize(3);
    String keyId = AuditKey.current(masterKey).id();
    assertThat(lines.get(1)).startsWith("{\"time\":\"2025-01-02T03:04:05.678901Z\",\"requestId\":\"request-1\","
        + "\"principal\":\"" + Outcomes.PRINCIPAL + "\",\"operation\":\"Encrypt\",\"keyArn\":\"" + Outcomes.KEY_ARN
        + "\",\"sourceKeyArn\":null,\"encryptionContextKeys\":[\"purpose\",\"tenant\"],\"outcome\":\"success\",\"httpStatus\":200,"
        + "\"durationMillis\":1.234,\"seq\":2,\"keyId\":\"" + keyId + "\",\"mac\":\"").matches(".*\"[0-9a-f]{64}\"}");
    assertThat(fieldNames(MAPPER.readTree(lines.get(1)))).isEqualTo(concat(FIELDS, CHAIN));
    JsonNode open = MAPPER.readTree(lines.get(0));
    assertThat(fieldNames(open)).isEqualTo(concat(List.of("time", "event", "reason", "previousMac"), CHAIN));
    assertThat(open.get("event").asText()).isEqualTo("open");
    assertThat(open.get("reason").asText()).isEqualTo("start");
    assertThat(open.get("previousMac").isNull()).isTrue();
    assertThat(open.get("seq").asLong()).isEqualTo(1);
    JsonNode close = MAPPER.readTree(lines.get(2));
    assertThat(fieldNames(close)).isEqualTo(concat(List.of("time", "event"), CHAIN));
    assertThat(close.get("event").asText()).isEqualTo("close");
    assertThat(close.get("seq").asLong()).isEqualTo(3);
  }

  @Test
  void aFailureHasNullsForWhatIsUnknownAndTheErrorTypeAsOutcome() throws IOException {
    Path file = directory.resolve("audit.log");
    try (AuditLog log = AuditLog.toFile(file, masterKey)) {
      log.completed(Outcomes.failed("Decrypt", "UnrecognizedClientException", 400, Duration.ofMillis(2)));
    }

    JsonNode line = MAPPER.readTree(Files.readAllLines(file, UTF_8).get(1));
    assertThat(fieldNames(line)).isEqualTo(concat(FIELDS, CHAIN));
    assertThat(line.get("principal").isNull()).isTrue();
    assertThat(line.get("keyArn").isNull()).isTrue();
    assertThat(line.get("encryptionContextKeys").isEmpty()).isTrue();
    assertThat(line.get("outcome").asText()).isEqualTo("UnrecognizedClientException");
    assertThat(line.get("httpStatus").asInt()).isEqualTo(400);
    assertThat(line.get("durationMillis").decimalValue()).isEqualByComparingTo("2");
  }

  @Test
  void aCallersContextKeyCannotBreakOrForgeALine() throws IOException {
    Path file = directory.resolve("audit.log");
    String hostile = "purpose\n{\"requestId\":\"forged\"}";
    try (AuditLog log = AuditLog.toFile(file, masterKey)) {
      log.completed(Outcomes.encrypt("request-1", List.of(hostile), Duration.ofMillis(1)));
    }

    List<String> lines = Files.readAllLines(file, UTF_8);
    assertThat(lines).hasSize(3);
    assertThat(MAPPER.readTree(lines.get(1)).get("encryptionContextKeys").get(0).asText()).isEqualTo(hostile);
    assertThat(AuditLogVerifier.of(masterKey).verify(List.of(file), true).ok()).isTrue();
  }

  @Test
  void createsTheFileReadableByItsOwnerOnly() throws IOException {
    Path file = directory.resolve("audit.log");
    AuditLog.toFile(file, masterKey).close();

    assertThat(Files.getPosixFilePermissions(file)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
  }

  @Test
  void appendsToTheFileOfAnEarlierRun() throws IOException {
    Path file = directory.resolve("audit.log");
    for (String requestId : List.of("first-run", "second-run")) {
      try (AuditLog log = AuditLog.toFile(file, masterKey)) {
        log.completed(Outcomes.encrypt(requestId, List.of(), Duration.ofMillis(1)));
      }
    }

    assertThat(requestIds(Files.readAllLines(file, UTF_8))).containsExactly("first-run", "second-run");
  }

  @Test
  void concurrentWritersProduceWholeLines() throws Exception {
    Path file = directory.resolve("audit.log");
    int threads = 8;
    int perThread = 2_000;
    // Long context keys make each line several kilobytes, so that torn writes would show.
    List<String> contextKeys = List.of("k".repeat(4_000), "tenant");
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try (AuditLog log = AuditLog.toFile(file, masterKey)) {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<?>> writers = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        writers.add(pool.submit(() -> {
          start.await();
          for (int i = 0; i < perThread; i++) {
            log.completed(Outcomes.encrypt(thread + "-" + i, contextKeys, Duration.ofMillis(1)));
          }
          return null;
        }));
      }
      start.countDown();
      for (Future<?> writer : writers) {
        writer.get();
      }
      assertThat(log.writeFailures()).isZero();
    } finally {
      pool.shutdownNow();
    }

    List<String> lines = Files.readAllLines(file, UTF_8);
    assertThat(lines).hasSize(threads * perThread + 2); // and the open and close lines
    for (String line : lines.subList(1, lines.size() - 1)) {
      assertThat(fieldNames(MAPPER.readTree(line))).isEqualTo(concat(FIELDS, CHAIN));
    }
    assertThat(new HashSet<>(requestIds(lines))).hasSize(threads * perThread);
    AuditLogVerifier.Verification verification = AuditLogVerifier.of(masterKey).verify(List.of(file), true);
    assertThat(verification.problem()).isEmpty();
    assertThat(verification.files().get(0).verifiedLines()).isEqualTo(lines.size());
  }

  @Test
  void aWriteThatFailsIsCountedAndNeverThrown() throws IOException {
    // Every write to /dev/full fails with ENOSPC, as on a full disk.
    try (AuditLog log = AuditLog.toFile(Path.of("/dev/full"), masterKey)) {
      RequestOutcome outcome = Outcomes.encrypt("request-1", List.of(), Duration.ofMillis(1));

      assertThatCode(() -> {
        log.completed(outcome);
        log.completed(outcome);
      }).doesNotThrowAnyException();
      assertThat(log.writeFailures()).isEqualTo(2);
    }
  }

  @Test
  void withoutAFileLinesGoToTheKeyholdAuditLogger() throws IOException {
    Logger audit = (Logger) LoggerFactory.getLogger("keyhold.audit");
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.start();
    audit.addAppender(appender);
    // The logging setup on the class path passes only WARN and above; a service's must pass this INFO.
    audit.setLevel(Level.INFO);
    try (AuditLog log = AuditLog.toLogger()) {
      log.completed(Outcomes.encrypt("request-1", List.of("purpose"), Duration.ofMillis(1)));
    } finally {
      audit.setLevel(null);
      audit.detachAppender(appender);
    }

    assertThat(appender.list).hasSize(1);
    assertThat(appender.list.get(0).getLevel()).isEqualTo(Level.INFO);
    assertThat(requestIds(List.of(appender.list.get(0).getFormattedMessage()))).containsExactly("request-1");
    assertThat(fieldNames(MAPPER.readTree(appender.list.get(0).getFormattedMessage()))).isEqualTo(FIELDS);
  }

  private static List<String> fieldNames(JsonNode line) {
    List<String> names = new ArrayList<>();
    line.fieldNames().forEachRemaining(names::add);
    return names;
  }

  /** The request ids of the request lines, in order; the log's own lines have none. */
  private static List<String> requestIds(List<String> lines) throws IOException {
    List<String> ids = new ArrayList<>();
    for (String line : lines) {
      JsonNode requestId = MAPPER.readTree(line).get("requestId");
      if (requestId != null) {
        ids.add(requestId.asText());
      }
    }
    return ids;
  }

  private static List<String> concat(List<String> first, List<String> second) {
    List<String> both = new ArrayList<>(first);
    both.addAll(second);
    return both;
  }
}
