package dev.keyhold.bench.durability;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.bench.EmbeddedKeyhold;
import dev.keyhold.bench.KeyholdProcess;
import dev.keyhold.bench.durability.KeyChecks.Verdict;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateKeyResponse;

/**
 * The durability drivers of issue 12, short enough for every build, against real Keyhold processes
 * over real SoftHSM2 tokens: the crash loop over 6 rounds of SIGKILL and restart, and CreateKey at
 * scale over 200 keys. Neither may lose anything the service acknowledged, and both must really have
 * had things acknowledged to check: a drill that checks nothing would pass as well.
 */
class CrashLoopTest {
  private static final Path MODULE = SoftHsmClusterExtension.modulePath();

  @TempDir
  Path work;

  @BeforeAll
  static void softHsmIsInstalled() {
    // The drivers would refuse to run too; this says it before any service starts, and never skips.
    assertThat(MODULE).as("SoftHSM2 (run 'apt-get install softhsm2'; bin/test does it)").isReadable();
  }

  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void nothingAcknowledgedIsLostAcrossSixCrashes() throws Exception {
    CrashLoop loop = parse(new CrashLoop(), "--home", work.resolve("crashed").toString(), "--rounds", "6",
        "--seed", "12", "--max-delay", "2", "--module", MODULE.toString());

    CrashLoopReport report = loop.run(System.out);
    report.print(System.out);

    assertThat(report.notRestarted()).as("the service came back after every crash").isEmpty();
    assertThat(report.losses()).isEmpty();
    assertThat(report.keysLost()).isZero();
    assertThat(report.ciphertextsLost()).isZero();
    assertThat(report.tornAuditLines()).isEmpty();
    assertThat(report.unaudited()).isEmpty();
    assertThat(report.auditChainProblem()).as("the audit log's chain, across every crash").isEmpty();
    assertThat(report.finalCheck().undecided()).isZero();
    assertThat(report.passed()).isTrue();

    // It did what a crash drill must do, round after round.
    assertThat(report.rounds()).hasSize(6);
    assertThat(report.keysAcknowledged()).isGreaterThan(report.rounds().size());
    assertThat(report.ciphertextsAcknowledged()).isGreaterThan(report.rounds().size());
    assertThat(report.roundsKilledWithCreateKeysInFlight()).isGreaterThanOrEqualTo(3);
    assertThat(report.roundsKilledRightAfterRestart()).isPositive();
    assertThat(report.rounds().stream().mapToLong(CrashLoopReport.Round::cut).sum())
        .as("calls in flight when the service was killed").isPositive();
    assertThat(report.rounds().stream().mapToInt(round -> round.check().keys()).sum())
        .as("keys of earlier rounds checked after restarts").isPositive();
    assertThat(report.finalCheck().keys()).isEqualTo((int) report.keysAcknowledged());
    assertThat(report.finalCheck().ciphertexts()).isEqualTo((int) report.ciphertextsAcknowledged());
    assertThat(report.auditLines()).isGreaterThan(report.keysAcknowledged() + report.ciphertextsAcknowledged());
  }

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void everyKeyCreatedAtScaleIsListedEnabledAndEncrypts() throws Exception {
    CreateKeysAtScale scale = parse(new CreateKeysAtScale(), "--keys", "200", "--threads", "4",
        "--module", MODULE.toString());

    ScaleReport report = scale.againstFreshKeyhold(work.resolve("scale"), System.out);
    report.print(System.out);

    // A CreateKey the service refused promised nothing; the drill needs most of them to count.
    assertThat(report.acknowledged() + report.failed()).isEqualTo(200);
    assertThat(report.acknowledged()).as(report.errors().toString()).isGreaterThanOrEqualTo(180);
    assertThat(report.verification().listed()).isEqualTo(report.acknowledged());
    assertThat(report.verification().whole()).isEqualTo(report.acknowledged());
    assertThat(report.verification().unanswered()).isZero();
    assertThat(report.lost()).isZero();
    assertThat(report.passed()).isTrue();
    assertThat(report.latencies().getTotalCount()).isEqualTo(report.acknowledged());
    assertThat(report.millisAt(99)).isGreaterThanOrEqualTo(report.millisAt(50)).isPositive();
    assertThat(report.perSecond()).isPositive();
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void theChecksTellALostKeyFromAWholeOneAndFromNoAnswer() throws Exception {
    Path home = work.resolve("checks");
    String createdBy;
    KeyholdProcess service = KeyholdProcess.start(home, List.of("--port", "0", "--module", MODULE.toString()),
        work.resolve("checks.log"));
    try (service; SdkHttpClient http = EmbeddedKeyhold.httpClient(1);
        KmsClient client = service.awaitCredentials(Duration.ofMinutes(1)).client(http)) {
      CreateKeyResponse created = client.createKey(request -> request.description("kept"));
      String kept = created.keyMetadata().keyId();
      createdBy = created.responseMetadata().requestId();
      String deleted = EmbeddedKeyhold.createKey(client, "deleted");
      SdkBytes plaintext = SdkBytes.fromUtf8String("secret");
      Map<String, String> context = Map.of("purpose", "test");
      SdkBytes ciphertext = client.encrypt(request -> request.keyId(kept).plaintext(plaintext)
          .encryptionContext(context)).ciphertextBlob();
      client.scheduleKeyDeletion(request -> request.keyId(deleted).pendingWindowInDays(7));

      assertThat(KeyChecks.listKeyIds(client)).contains(kept, deleted);
      assertThat(KeyChecks.checkKey(client, kept).verdict()).isEqualTo(Verdict.WHOLE);
      assertThat(KeyChecks.checkKey(client, deleted).detail()).contains("PendingDeletion");
      assertThat(KeyChecks.checkKey(client, deleted).verdict()).isEqualTo(Verdict.LOST);
      assertThat(KeyChecks.checkKey(client, UUID.randomUUID().toString()).detail()).contains("NotFoundException");
      assertThat(KeyChecks.checkCiphertext(client, kept, ciphertext, plaintext, context).verdict())
          .isEqualTo(Verdict.WHOLE);
      assertThat(KeyChecks.checkCiphertext(client, kept, ciphertext, SdkBytes.fromUtf8String("other"), context)
          .verdict()).isEqualTo(Verdict.LOST);
      assertThat(KeyChecks.checkCiphertext(client, kept, ciphertext, plaintext, Map.of()).verdict())
          .isEqualTo(Verdict.LOST);

      service.kill();
      assertThat(KeyChecks.checkKey(client, kept).verdict()).isEqualTo(Verdict.UNDECIDED);
      assertThat(KeyChecks.checkCiphertext(client, kept, ciphertext, plaintext, context).verdict())
          .isEqualTo(Verdict.UNDECIDED);
    }
    // What the service audited, all of it whole and naming each request; a torn line and two lines run
    // together are not whole.
    AuditLines audit = new AuditLines(work.resolve("audit.log"));
    Files.copy(home.resolve("audit.log"), work.resolve("audit.log"));
    assertThat(new AuditLines(work.resolve("audit.log")).next().lines()).isZero(); // earlier lines are not its own
    AuditLines.Segment whole = audit.next();
    assertThat(whole.lines()).isGreaterThanOrEqualTo(10);
    assertThat(whole.torn()).isEmpty();
    assertThat(audit.auditsSuccess(createdBy, "CreateKey")).as("the CreateKey's x-amzn-RequestId is audited").isTrue();
    assertThat(audit.auditsSuccess(createdBy, "Encrypt")).isFalse();
    String line = Files.readAllLines(work.resolve("audit.log"), UTF_8).get(0);
    Files.writeString(work.resolve("audit.log"), line + line + "\n" + line.substring(0, line.length() / 2),
        StandardOpenOption.APPEND);
    AuditLines.Segment torn = audit.next();
    assertThat(torn.lines()).isEqualTo(2);
    assertThat(torn.torn()).hasSize(2).last().asString().contains("no newline");
  }

  @Test
  void refusesSettingsThatCouldNotRun() {
    assertThat(execute(new CrashLoop(), "--rounds", "0")).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute(new CrashLoop(), "--min-delay", "2", "--max-delay", "1")).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute(new CrashLoop(), "--module", work.resolve("none.so").toString()))
        .isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute(new CreateKeysAtScale(), "--keys", "0")).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute(new CreateKeysAtScale(), "--endpoint", "http://127.0.0.1:1/", "--home", work.toString()))
        .isEqualTo(CommandLine.ExitCode.USAGE);
  }

  private static <T> T parse(T command, String... args) {
    new CommandLine(command).parseArgs(args);
    return command;
  }

  private static int execute(Object command, String... args) {
    return new CommandLine(command).setErr(new PrintWriter(new StringWriter())).execute(args);
  }
}
