package dev.keyhold.bench.harness;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import dev.keyhold.bench.EmbeddedKeyhold;
import dev.keyhold.bench.KeyholdProcess;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.shims.CloudHsmStandIn;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * Runs {@code keyhold-bench} as an operator would, in a JVM of its own against real SoftHSM2 tokens,
 * for a fraction of a second per point: every workload on a throwaway token and the embedded Keyhold,
 * then a token of the operator's with the PIN in a file and in a variable, then {@code --compare}.
 * Checks what it writes (CSV, JSON, the HTML report drawn in headless Chromium) and that the PIN shows
 * nowhere: not in the output, the results, or the arguments of the process and its children (the raw
 * C program), nor in the children's environment.
 */
class KeyholdBenchTest {
  @RegisterExtension
  static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  private static final String RAW_C_PROGRAM = "/raw-pkcs11 ";
  private static final List<String> SHORT_RUN = List.of("--payloads", "32,1024", "--threads", "1,2",
      "--dry-pass", "0", "--warmup", "0.05", "--duration", "0.15");
  private static final List<String> CSV_COLUMNS = List.of("workload", "route", "payloadBytes", "threads",
      "operations", "seconds", "opsPerSecond", "mbPerSecond", "p50Micros", "p99Micros", "p999Micros", "maxMicros",
      "cpuMicrosPerOp", "othersCpuShare", "jitMillis", "ofRawC", "error");

  @TempDir
  Path work;

  @Test
  void everyWorkloadRunsOnAThrowawayTokenAndTheEmbeddedKeyhold() throws Exception {
    Path home = work.resolve("home");
    Path out = work.resolve("out");
    List<String> args = new ArrayList<>(List.of("--home", home.toString(), "--out", out.toString()));
    args.addAll(SHORT_RUN);

    Run run = bench(Map.of("SOFTHSM2_CONF", home.resolve("softhsm/softhsm2.conf").toString()), args);

    assertThat(run.exitCode()).as(run.output()).isZero();
    List<Map<String, String>> rows = csv(out);
    Set<String> expected = new HashSet<>();
    for (Workload workload : Workload.values()) {
      for (int payload : workload.payloads(List.of(32, 1024))) {
        expected.add(workload.id() + " " + payload + " 1");
        expected.add(workload.id() + " " + payload + " 2");
      }
    }
    assertThat(rows).extracting(row -> row.get("workload") + " " + row.get("payloadBytes") + " " + row.get("threads"))
        .containsExactlyInAnyOrderElementsOf(expected);
    for (Map<String, String> row : rows) {
      assertThat(row.keySet()).containsExactlyElementsOf(CSV_COLUMNS);
      assertThat(row.get("error")).as(row.toString()).isEmpty();
      assertThat(Long.parseLong(row.get("operations"))).as(row.toString()).isPositive();
      assertThat(Double.parseDouble(row.get("opsPerSecond"))).as(row.toString()).isPositive();
      assertThat(Double.parseDouble(row.get("p99Micros")))
          .as(row.toString()).isGreaterThanOrEqualTo(Double.parseDouble(row.get("p50Micros"))).isPositive();
      assertThat(Double.parseDouble(row.get("cpuMicrosPerOp"))).as(row.toString()).isPositive();
      // Every encrypt and decrypt, raw C's own included, is set against raw C's rate for the same call.
      String workload = row.get("workload");
      if (workload.endsWith("-encrypt") || workload.endsWith("-decrypt")) {
        assertThat(Double.parseDouble(row.get("ofRawC"))).as(row.toString()).isPositive();
      } else {
        assertThat(row.get("ofRawC")).as(row.toString()).isEmpty();
      }
    }
    assertThat(rows).filteredOn(row -> row.get("route").equals("raw-c"))
        .extracting(row -> row.get("workload") + " " + row.get("payloadBytes") + " " + row.get("threads") + " "
            + row.get("ofRawC"))
        .containsExactlyInAnyOrder("raw-c-encrypt 32 1 1.0", "raw-c-encrypt 32 2 1.0", "raw-c-encrypt 1024 1 1.0",
            "raw-c-encrypt 1024 2 1.0", "raw-c-decrypt 32 1 1.0", "raw-c-decrypt 32 2 1.0",
            "raw-c-decrypt 1024 1 1.0", "raw-c-decrypt 1024 2 1.0");

    JsonNode results = JsonMapper.builder().build().readTree(out.resolve(ResultFiles.JSON).toFile());
    JsonNode info = results.get("run");
    for (String field : List.of("started", "finished", "jdk", "module", "token")) {
      assertThat(info.get(field).asText()).as(field).isNotBlank();
    }
    assertThat(info.get("module").asText()).contains("SoftHSM");
    assertThat(info.get("token").asText()).contains("keyhold-bench");
    for (String field : List.of("host", "os", "cpu", "processors", "memoryBytes", "loadAverage")) {
      assertThat(info.get("machine").has(field)).as(field).isTrue();
    }
    assertThat(info.get("settings").get("seed").asLong()).isEqualTo(1);
    assertThat(results.get("points")).hasSize(rows.size());
    results.get("points").forEach(point -> assertThat(fieldNames(point)).containsExactlyElementsOf(CSV_COLUMNS));

    // One throughput chart per workload, a latency chart per workload with more than one payload, and
    // the routes' encrypt chart and their share of raw C.
    long latencyCharts = Arrays.stream(Workload.values()).filter(w -> w.payloads(List.of(32, 1024)).size() > 1).count();
    long charts = Workload.values().length + latencyCharts + 2;
    assertThat(chartsDrawn(out.resolve(ResultFiles.HTML))).isEqualTo(charts);
    // --render draws the same report again from results.json alone.
    Files.delete(out.resolve(ResultFiles.HTML));
    assertThat(execute("--render", out.toString())).isZero();
    assertThat(chartsDrawn(out.resolve(ResultFiles.HTML))).isEqualTo(charts);
  }

  @Test
  void anOperatorsTokenWithThePinInAFileOrVariableNeverShowsIt() throws Exception {
    String label = cluster.clusterId().tokenLabel(1);
    String pin = cluster.kmsuserPin().withChars(String::new);
    Path pinFile = work.resolve("pin");
    Files.writeString(pinFile, pin + "\n");
    String module = SoftHsmClusterExtension.modulePath().toString();

    Path fromFile = work.resolve("from-file");
    List<String> args = new ArrayList<>(List.of("--module", module, "--token", label, "--pin-file", pinFile.toString(),
        "--out", fromFile.toString()));
    args.addAll(SHORT_RUN);
    Run withFile = bench(Map.of(), args);

    Path fromVariable = work.resolve("from-variable");
    Run withVariable = bench(Map.of("BENCH_PIN", pin), List.of("--module", module, "--token", label,
        "--pin-env", "BENCH_PIN", "--workloads", "raw-c-encrypt,token-encrypt", "--payloads", "32", "--threads", "1",
        "--dry-pass", "0", "--warmup", "0", "--duration", "0.5", "--out", fromVariable.toString()));

    for (Run run : List.of(withFile, withVariable)) {
      assertThat(run.exitCode()).as(run.output()).isZero();
      assertThat(run.output()).doesNotContain(pin);
      assertThat(run.commandLines()).isNotEmpty().allSatisfy(line -> assertThat(line).doesNotContain(pin));
      // The raw C program was seen running, and neither its arguments nor its environment hold the PIN.
      assertThat(run.childCommandLines()).anyMatch(line -> line.contains(RAW_C_PROGRAM))
          .allSatisfy(line -> assertThat(line).doesNotContain(pin));
      assertThat(run.childEnvironments()).isNotEmpty().allSatisfy(environment -> assertThat(environment)
          .doesNotContain(pin).doesNotContain("BENCH_PIN"));
    }
    for (Path out : List.of(fromFile, fromVariable)) {
      for (String file : List.of(ResultFiles.CSV, ResultFiles.JSON, ResultFiles.HTML)) {
        assertThat(Files.readString(out.resolve(file))).as(file).doesNotContain(pin);
      }
    }
    // An operator's token runs the raw C, token and SunPKCS11 workloads; the KMS ones need the embedded
    // Keyhold.
    assertThat(csv(fromFile)).allSatisfy(row -> assertThat(row.get("error")).isEmpty())
        .extracting(row -> row.get("route")).containsOnly("raw-c", "adapter", "sunpkcs11");
    // Nothing stays behind on the operator's token.
    try (Token token = cluster.login(1)) {
      assertThat(token.listAesKeys()).extracting(AesKey::label)
          .noneMatch(name -> name.startsWith(AdapterRoute.KEY_LABEL_PREFIX));
    }
  }

  @Test
  void theCloudHsmProfileRunsOnTheCloudHsmStandInWhereSunPkcs11CannotDecryptWhatItEncrypts() throws Exception {
    char[] password = "stand-in-Password-1".toCharArray();
    CloudHsmStandIn standIn = cluster.kmsuserPin().withChars(hsmPin -> CloudHsmStandIn.builder(work.resolve("standin"),
        SoftHsmClusterExtension.modulePath()).slotLabel("bench-cluster").hsms(cluster.tokenLabels()).hsmPin(hsmPin)
        .user("kmsuser", password).build());
    Path out = work.resolve("standin-out");

    Run run = bench(Map.of("BENCH_PIN", new String(password)), List.of("--module", standIn.module().toString(),
        "--token", "bench-cluster", "--profile", "aws_cloudhsm", "--user", "kmsuser", "--pin-env", "BENCH_PIN",
        "--payloads", "32", "--threads", "1,2", "--dry-pass", "0", "--warmup", "0.1", "--duration", "0.3",
        "--out", out.toString()));

    assertThat(run.exitCode()).as(run.output()).isZero();
    List<Map<String, String>> rows = csv(out);
    assertThat(rows).extracting(row -> row.get("route")).contains("raw-c", "adapter", "sunpkcs11");
    // SunPKCS11 passes CKM_AES_GCM an IV of its own, which the library replaces with one it draws and
    // writes back into pIv, where SunPKCS11 never looks: it encrypts, but under an IV it does not know,
    // so it cannot decrypt what it encrypted. Everything else runs as on SoftHSM2.
    assertThat(rows).allSatisfy(row -> {
      if (row.get("workload").equals("sunpkcs11-decrypt")) {
        assertThat(row.get("error")).contains("AEADBadTagException").contains("CKR_ENCRYPTED_DATA_INVALID");
      } else {
        assertThat(row.get("error")).as(row.get("workload")).isEmpty();
        assertThat(Double.parseDouble(row.get("opsPerSecond"))).as(row.get("workload")).isPositive();
      }
    });
  }

  @Test
  void aWrongPinOrTokenLabelEndsTheRunWithOneClearMessage() throws Exception {
    String module = SoftHsmClusterExtension.modulePath().toString();
    String label = cluster.clusterId().tokenLabel(1);
    Path wrongPin = work.resolve("wrong-pin");
    Files.writeString(wrongPin, "not-" + cluster.kmsuserPin().withChars(String::new));
    Path out = work.resolve("refused");

    Run badPin = bench(Map.of(), List.of("--module", module, "--token", label, "--pin-file", wrongPin.toString(),
        "--workloads", "token-encrypt,token-decrypt,sunpkcs11-encrypt", "--out", out.toString()));
    Run badLabel = bench(Map.of(), List.of("--module", module, "--token", "no-such-token", "--pin-file",
        wrongPin.toString(), "--out", out.toString()));

    assertThat(badPin.exitCode()).isEqualTo(1);
    // One login, before any workload: a PIN tried once per workload could lock a CloudHSM user out.
    assertThat(badPin.output()).containsOnlyOnce("C_Login").contains("CKR_PIN_INCORRECT").doesNotContain("\tat ");
    assertThat(badLabel.exitCode()).isEqualTo(1);
    assertThat(badLabel.output()).contains("no token labelled 'no-such-token'").doesNotContain("\tat ");
    assertThat(out).doesNotExist();
  }

  @Test
  void compareRunsTwoWorkloadsInAlternationAndGivesTheirRatio() throws Exception {
    Path out = work.resolve("compare");
    Path pinFile = work.resolve("pin");
    cluster.kmsuserPin().withChars(chars -> {
      try {
        return Files.writeString(pinFile, new String(chars));
      } catch (IOException e) {
        throw new AssertionError(e);
      }
    });
    Run run = bench(Map.of(), List.of("--module", SoftHsmClusterExtension.modulePath().toString(),
        "--token", cluster.clusterId().tokenLabel(1), "--pin-file", pinFile.toString(),
        "--compare", "sunpkcs11-encrypt,token-encrypt", "--rounds", "2", "--payloads", "32,1024", "--threads", "1",
        "--dry-pass", "0.1", "--warmup", "0.1", "--duration", "0.2", "--out", out.toString()));

    assertThat(run.exitCode()).as(run.output()).isZero();
    JsonNode comparisons = JsonMapper.builder().build().readTree(out.resolve(ResultFiles.JSON).toFile())
        .get("comparisons");
    assertThat(comparisons).hasSize(2);
    for (JsonNode comparison : comparisons) {
      assertThat(comparison.get("a").asText()).isEqualTo("sunpkcs11-encrypt");
      assertThat(comparison.get("b").asText()).isEqualTo("token-encrypt");
      assertThat(comparison.get("aOpsPerSecond")).hasSize(2);
      assertThat(comparison.get("bOpsPerSecond")).hasSize(2);
      double ratio = comparison.get("ratio").asDouble();
      assertThat(ratio).isPositive().isBetween(comparison.get("ratioMin").asDouble(),
          comparison.get("ratioMax").asDouble());
    }
    assertThat(run.output()).contains("token-encrypt / sunpkcs11-encrypt, 32 B x 1:");
  }

  @Test
  void httpWorkloadsMeasureARunningKeyholdAtAnEndpoint() throws Exception {
    try (KeyholdProcess service = KeyholdProcess.start(work.resolve("service"), List.of("--port", "0"),
        work.resolve("service.log"))) {
      KeyholdProcess.Credentials credentials = service.awaitCredentials(Duration.ofMinutes(2));
      URI endpoint = credentials.endpoint();
      String keyId;
      try (SdkHttpClient http = EmbeddedKeyhold.httpClient(1); KmsClient client = credentials.client(http)) {
        keyId = EmbeddedKeyhold.createKey(client, "KeyholdBenchTest");
      }
      Path pinFile = work.resolve("operator-pin");
      Files.writeString(pinFile, cluster.kmsuserPin().withChars(String::new));
      Path out = work.resolve("endpoint");

      Run run = bench(credentials.environment(),
          List.of("--module", SoftHsmClusterExtension.modulePath().toString(),
              "--token", cluster.clusterId().tokenLabel(1), "--pin-file", pinFile.toString(),
              "--endpoint", endpoint.toString(), "--key-id", keyId, "--workloads", "http-encrypt,http-decrypt",
              "--payloads", "32", "--threads", "1", "--dry-pass", "0", "--warmup", "0.1", "--duration", "0.3",
              "--out", out.toString()));

      assertThat(run.exitCode()).as(run.output()).isZero();
      assertThat(csv(out)).extracting(row -> row.get("workload") + " " + row.get("error"))
          .containsExactly("http-encrypt ", "http-decrypt ");
      assertThat(JsonMapper.builder().build().readTree(out.resolve(ResultFiles.JSON).toFile())
          .get("run").get("settings").get("httpTarget").asText()).isEqualTo(endpoint.toString());
      assertThat(Files.readString(work.resolve("service/audit.log"))).contains(keyId).contains("\"Encrypt\"")
          .contains("\"Decrypt\"");

      // A workload that fails is recorded as failed, with the service's answer, and the run goes on.
      Path missingKey = work.resolve("missing-key");
      Run failing = bench(credentials.environment(),
          List.of("--module", SoftHsmClusterExtension.modulePath().toString(),
              "--token", cluster.clusterId().tokenLabel(1), "--pin-file", pinFile.toString(),
              "--endpoint", endpoint.toString(), "--key-id", "11111111-2222-3333-4444-555555555555",
              "--workloads", "http-encrypt,token-encrypt", "--payloads", "32,1024", "--threads", "1,2",
              "--dry-pass", "0", "--warmup", "0", "--duration", "0.1", "--out", missingKey.toString()));
      assertThat(failing.exitCode()).as(failing.output()).isZero();
      List<Map<String, String>> rows = csv(missingKey);
      assertThat(rows).hasSize(8);
      assertThat(rows).filteredOn(row -> row.get("workload").equals("http-encrypt")).hasSize(4)
          .allSatisfy(row -> assertThat(row.get("error")).startsWith("NotFoundException"));
      assertThat(rows).filteredOn(row -> row.get("workload").equals("token-encrypt")).hasSize(4)
          .allSatisfy(row -> assertThat(row.get("error")).isEmpty());
    }
  }

  @Test
  void refusesAPinOnTheCommandLineAndIncompleteTokenOptions() {
    assertThat(execute("--module", "/usr/lib/softhsm/libsofthsm2.so", "--token", "t", "--pin", "1234"))
        .isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute("--module", "/usr/lib/softhsm/libsofthsm2.so", "--token", "t"))
        .isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute("--home", work.toString(), "--workloads", "token-sign")).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute("--home", work.toString(), "--compare", "token-encrypt")).isEqualTo(CommandLine.ExitCode.USAGE);
    assertThat(execute("--home", work.toString(), "--endpoint", "http://127.0.0.1:1/"))
        .isEqualTo(CommandLine.ExitCode.USAGE);
  }

  private static int execute(String... args) {
    return new CommandLine(new KeyholdBench()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
  }

  /**
   * What a run of the bench in its own JVM printed, how it ended, and every command line it showed,
   * with those of its child processes, and the environments of the raw C program, which lives as long as
   * the run ({@code NAME=value}, one per line).
   */
  private record Run(int exitCode, String output, List<String> commandLines, List<String> childCommandLines,
      List<String> childEnvironments) {}

  private static Run bench(Map<String, String> environment, List<String> args) throws Exception {
    List<String> command = new ArrayList<>(List.of(KeyholdProcess.java(), "-cp", System.getProperty("java.class.path"),
        KeyholdBench.class.getName()));
    command.addAll(args);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(environment);
    Process child = builder.start();
    CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
      try {
        return new String(child.getInputStream().readAllBytes(), UTF_8);
      } catch (IOException e) {
        throw new AssertionError(e);
      }
    });
    // What `ps` would show of it and its children, read while they run.
    List<String> commandLines = new ArrayList<>();
    List<String> childCommandLines = new ArrayList<>();
    List<String> childEnvironments = new ArrayList<>();
    while (!child.waitFor(20, TimeUnit.MILLISECONDS)) {
      proc(child.pid(), "cmdline").ifPresent(commandLines::add);
      child.descendants().forEach(descendant -> proc(descendant.pid(), "cmdline").ifPresent(line -> {
        childCommandLines.add(line);
        if (line.contains(RAW_C_PROGRAM)) {
          proc(descendant.pid(), "environ").ifPresent(childEnvironments::add);
        }
      }));
    }
    String printed = output.get(10, TimeUnit.SECONDS);
    System.out.println("keyhold-bench " + String.join(" ", args) + " ->\n" + printed);
    return new Run(child.exitValue(), printed, commandLines, childCommandLines, childEnvironments);
  }

  /** {@code /proc/PID/FILE}, its NULs made spaces (cmdline) or line ends (environ); empty once it has ended. */
  private static Optional<String> proc(long pid, String file) {
    try {
      return Optional.of(Files.readString(Path.of("/proc", Long.toString(pid), file))
          .replace('\0', file.equals("environ") ? '\n' : ' '));
    } catch (IOException exited) {
      return Optional.empty();
    }
  }

  private static List<Map<String, String>> csv(Path out) throws IOException {
    CsvMapper mapper = new CsvMapper();
    try (MappingIterator<Map<String, String>> rows = mapper.readerFor(Map.class)
        .with(CsvSchema.emptySchema().withHeader()).readValues(out.resolve(ResultFiles.CSV).toFile())) {
      return rows.readAll();
    }
  }

  private static List<String> fieldNames(JsonNode node) {
    List<String> names = new ArrayList<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }

  /** Opens the report in headless Chromium and reads how many charts its script drew. */
  private long chartsDrawn(Path report) throws Exception {
    if (!Files.isExecutable(CHROMIUM)) {
      throw new IllegalStateException("Chromium is not installed at " + CHROMIUM
          + ": run 'apt-get install chromium' (bin/test does it)");
    }
    Process chromium = new ProcessBuilder(CHROMIUM.toString(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--user-data-dir=" + Files.createTempDirectory(work, "chromium"), "--dump-dom",
        report.toUri().toString())
        .redirectError(ProcessBuilder.Redirect.DISCARD)
        .start();
    String dom = new String(chromium.getInputStream().readAllBytes(), UTF_8);
    assertThat(chromium.waitFor(60, TimeUnit.SECONDS)).isTrue();
    Matcher drawn = Pattern.compile("data-charts-drawn=\"(\\d+)\"").matcher(dom);
    assertThat(drawn.find()).as("the report's script ran to its end").isTrue();
    long canvases = Pattern.compile("<canvas").matcher(dom).results().count();
    long charts = Long.parseLong(drawn.group(1));
    assertThat(canvases).as("a canvas per chart").isEqualTo(charts);
    return charts;
  }
}
