package dev.keyhold.bench.durability;

import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.keyhold.bench.EmbeddedKeyhold;
import dev.keyhold.bench.KeyholdProcess;
import dev.keyhold.bench.durability.KeyChecks.Finding;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * Many CreateKeys at once through the HTTP API, then a check that every key the service acknowledged
 * is there: listed by ListKeys, Enabled in DescribeKey, usable by Encrypt. Against a fresh throwaway
 * Keyhold ({@link KeyholdProcess}, its reconciler at its default interval) or any endpoint, signing
 * with the AWS SDK's default credentials.
 *
 * <p>Run through {@code benchmarks/run-create-keys}. Exits 0 when every acknowledged key was found
 * whole, 1 otherwise (or when no key was acknowledged, which would check nothing).
 */
@Command(name = "run-create-keys", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Creates many KMS keys from several threads over HTTP, then checks that every acknowledged key is "
        + "listed, Enabled and encrypts.")
public final class CreateKeysAtScale implements Callable<Integer> {
  private static final Duration START_TIMEOUT = Duration.ofMinutes(5);
  /** Latencies from 1 µs to an hour at 0.1%. */
  private static final int SIGNIFICANT_DIGITS = 3;

  @Spec
  CommandSpec spec;

  @Option(names = "--keys", defaultValue = "10000", paramLabel = "N",
      description = "CreateKeys (default ${DEFAULT-VALUE}).")
  int keys;

  @Option(names = "--threads", defaultValue = "8", paramLabel = "N",
      description = "Threads calling CreateKey, then checking (default ${DEFAULT-VALUE}).")
  int threads;

  @Option(names = "--endpoint", paramLabel = "URL",
      description = "A running Keyhold (or AWS KMS), credentials from the AWS SDK's default chain. Default: a fresh"
          + " Keyhold in a temporary home.")
  URI endpoint;

  @Option(names = "--region", defaultValue = "us-east-1", paramLabel = "REGION",
      description = "Region to sign for at --endpoint (default ${DEFAULT-VALUE}).")
  String region;

  @Option(names = "--home", paramLabel = "DIR",
      description = "Home of the Keyhold to start (kept), instead of a temporary one removed after a passing run.")
  Path home;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library of the Keyhold to start (default ${DEFAULT-VALUE}).")
  Path module;

  @Override
  public Integer call() throws Exception {
    checkSettings();
    ScaleReport report;
    if (endpoint != null) {
      try (DefaultCredentialsProvider credentials = DefaultCredentialsProvider.builder().build();
          SdkHttpClient http = EmbeddedKeyhold.httpClient(threads);
          KmsClient client = EmbeddedKeyhold.client(endpoint, region, credentials, http)) {
        report = measure(client, System.out);
      }
    } else {
      boolean temporary = home == null;
      Path serviceHome = temporary ? Files.createTempDirectory("keyhold-create-keys.") : home;
      report = againstFreshKeyhold(serviceHome, System.out);
      if (temporary && report.passed()) {
        MoreFiles.deleteRecursively(serviceHome, RecursiveDeleteOption.ALLOW_INSECURE);
      } else {
        System.out.println("home: " + serviceHome);
      }
    }
    report.print(System.out);
    return report.passed() ? 0 : 1;
  }

  /** Starts a Keyhold over {@code serviceHome}, measures it, and stops it. */
  ScaleReport againstFreshKeyhold(Path serviceHome, PrintStream out) throws IOException, InterruptedException {
    checkSettings();
    out.println("starting Keyhold in " + serviceHome + " ...");
    try (KeyholdProcess service = KeyholdProcess.start(serviceHome, List.of("--port", "0", "--module",
        module.toString()), serviceHome.resolve("service.log"))) {
      KeyholdProcess.Credentials credentials = service.awaitCredentials(START_TIMEOUT);
      try (SdkHttpClient http = EmbeddedKeyhold.httpClient(threads); KmsClient client = credentials.client(http)) {
        return measure(client, out);
      }
    }
  }

  /** The CreateKeys, then the check of every acknowledged key. */
  ScaleReport measure(KmsClient client, PrintStream out) throws InterruptedException {
    out.printf("%d CreateKeys from %d threads against %s ...%n", keys, threads, client.serviceClientConfiguration()
        .endpointOverride().map(URI::toString).orElse("the default endpoint"));
    String description = "run-create-keys " + Instant.now();
    AtomicInteger next = new AtomicInteger();
    List<String> acknowledged = Collections.synchronizedList(new ArrayList<>());
    ErrorCounts errors = new ErrorCounts();
    Histogram latencies = new Histogram(SIGNIFICANT_DIGITS);
    int step = Math.max(1, keys / 10);
    long start = System.nanoTime();
    Parallel.run(threads, "create", () -> {
      Histogram own = new Histogram(SIGNIFICANT_DIGITS);
      for (int i = next.getAndIncrement(); i < keys; i = next.getAndIncrement()) {
        long sent = System.nanoTime();
        try {
          acknowledged.add(client.createKey(request -> request.description(description)).keyMetadata().keyId());
          own.recordValue(System.nanoTime() - sent);
        } catch (SdkException e) {
          errors.add("CreateKey", e);
        }
        if ((i + 1) % step == 0) {
          out.printf(Locale.ROOT, "  %d of %d answered, %.0f s%n", i + 1, keys, (System.nanoTime() - start) / 1e9);
        }
      }
      synchronized (latencies) {
        latencies.add(own);
      }
    });
    Duration creating = Duration.ofNanos(System.nanoTime() - start);
    out.printf("checking %d acknowledged keys ...%n", acknowledged.size());
    long checkStart = System.nanoTime();
    Verification verification = verify(client, List.copyOf(acknowledged));
    return new ScaleReport(keys, threads, acknowledged.size(), errors, creating, latencies, verification,
        Duration.ofNanos(System.nanoTime() - checkStart));
  }

  /** Every acknowledged key: in ListKeys, then DescribeKey Enabled and an Encrypt, from {@code --threads} threads. */
  private Verification verify(KmsClient client, List<String> ids) throws InterruptedException {
    Set<String> listed = KeyChecks.listKeyIds(client);
    LongAdder whole = new LongAdder();
    LongAdder unanswered = new LongAdder();
    Map<String, String> lost = new ConcurrentSkipListMap<>();
    ids.stream().filter(id -> !listed.contains(id)).forEach(id -> lost.put(id, "not in ListKeys"));
    long notListed = lost.size();
    Parallel.forEach(ids, threads, id -> {
      Finding finding = KeyChecks.checkKey(client, id);
      switch (finding.verdict()) {
        case WHOLE -> whole.increment();
        case LOST -> lost.merge(id, finding.detail(), (first, then) -> first + "; " + then);
        case UNDECIDED -> unanswered.increment();
      }
    });
    return new Verification(ids.size() - notListed, whole.sum(), unanswered.sum(), Map.copyOf(lost));
  }

  private void checkSettings() {
    CommandLine line = spec.commandLine();
    if (keys < 1 || threads < 1) {
      throw new ParameterException(line, "--keys and --threads must be at least 1");
    }
    if (endpoint != null && home != null) {
      throw new ParameterException(line, "--home is for the Keyhold this starts; --endpoint names one running");
    }
    if (endpoint == null && !Files.isReadable(module)) {
      throw new ParameterException(line, "no PKCS#11 library at " + module + " (install softhsm2, or give --module)");
    }
  }

  /**
   * What the check found of the acknowledged keys.
   *
   * @param listed in ListKeys
   * @param whole Enabled in DescribeKey, and Encrypt under them succeeded
   * @param unanswered calls that got no answer: neither whole nor lost
   * @param lost each key missing from ListKeys, not Enabled, or refused by DescribeKey or Encrypt, and what was wrong
   */
  record Verification(long listed, long whole, long unanswered, Map<String, String> lost) {}

  public static void main(String[] args) {
    System.exit(new CommandLine(new CreateKeysAtScale()).execute(args));
  }
}
