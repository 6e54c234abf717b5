package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.common.collect.ImmutableSet;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.server.FuzzCases.FuzzCase;
import dev.keyhold.server.FuzzCases.Signing;
import dev.keyhold.server.FuzzCases.Targets;
import dev.keyhold.server.auth.Credential;
import java.io.IOException;
import java.net.URI;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import software.amazon.awssdk.http.SdkHttpRequest;

/**
 * Sends {@link FuzzCases}' requests to a running Keyhold, signed as one caller, over one HTTP/1.1
 * connection (a new one whenever the service closes it), and checks every answer: a status of 200, 400
 * or 413, never 5xx; a JSON body, {@code {"__type": ..., "message": ...}} with a type of AWS KMS's
 * error set unless the status is 200; no trace of Java (a stack frame, a class or package name) in it;
 * an answer within {@link RawRequests}' read timeout. A run stops at the first answer that fails them.
 *
 * <p>{@link #prepare} makes what the valid requests name: a key to fuzz, its alias and a ciphertext,
 * and a second key no case names, which must still encrypt after the run ({@link #stillServes}).
 * Both keys stay, each named {@code fuzz <run id>}.
 */
public final class RequestFuzzer implements AutoCloseable {
  /** KeyholdServer's default largest body: OVERSIZED_BODY goes past it. */
  public static final int MAX_REQUEST_BYTES = 1 << 20;
  /** The {@code __type}s AWS KMS sends for a fault of the request. */
  private static final ImmutableSet<String> ERROR_TYPES = Stream.concat(
          Arrays.stream(KmsErrorType.values())
              .filter(type -> type != KmsErrorType.KMSInternalException
                  && type != KmsErrorType.DependencyTimeoutException),
          Arrays.stream(WireException.Type.values()))
      .map(Enum::name)
      .collect(ImmutableSet.toImmutableSet());
  /** What a Java stack trace or exception leaves in a message: a frame, a JDK or Keyhold class, a library's. */
  private static final Pattern JAVA_TRACE = Pattern.compile(
      "\\bat [a-z][\\w$]*(\\.[\\w$]+)+\\(|\\bjava\\.(lang|util|io|net|time)\\.|\\bdev\\.keyhold\\."
          + "|\\b[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+\\.[A-Z]\\w*(Exception|Error)\\b"
          + "|com\\.fasterxml|io\\.undertow|software\\.amazon");

  private final URI endpoint;
  private final Credential caller;
  private final Credential stranger;
  private final String region;
  private final Targets targets;
  private final String witnessKeyId;
  private RawRequests connection;

  private RequestFuzzer(URI endpoint, Credential caller, String region, Targets targets, String witnessKeyId,
      RawRequests connection) {
    this.endpoint = endpoint;
    this.caller = caller;
    this.stranger = Credential.generate("arn:aws:iam::" + caller.accountId() + ":user/stranger",
        new SecureRandom());
    this.region = region;
    this.targets = targets;
    this.witnessKeyId = witnessKeyId;
    this.connection = connection;
  }

  /**
   * Makes the keys, alias and ciphertext the cases name, on the Keyhold at {@code endpoint} in
   * {@code region}, as {@code caller}: an administrator, so that the custom key store operations reach
   * their code too.
   *
   * @throws IllegalStateException if the service refuses any of it
   */
  public static RequestFuzzer prepare(URI endpoint, Credential caller, String region) throws IOException {
    RawRequests connection = new RawRequests(endpoint, caller, region);
    String run = UUID.randomUUID().toString();
    String keyId = createKey(connection, run);
    String witness = createKey(connection, run);
    JsonNode described = ok(connection, "DescribeKey", "{\"KeyId\":\"" + keyId + "\"}");
    String alias = "alias/fuzz-" + run;
    ok(connection, "CreateAlias", "{\"AliasName\":\"" + alias + "\",\"TargetKeyId\":\"" + keyId + "\"}");
    String ciphertext = ok(connection, "Encrypt", "{\"KeyId\":\"" + keyId
        + "\",\"Plaintext\":\"ZnV6eg==\",\"EncryptionContext\":{\"purpose\":\"fuzz\"}}").path("CiphertextBlob").asText();
    Targets targets = new Targets(keyId, described.path("KeyMetadata").path("Arn").asText(), alias, ciphertext,
        caller.accountId(), region);
    return new RequestFuzzer(endpoint, caller, region, targets, witness, connection);
  }

  private static String createKey(RawRequests connection, String run) throws IOException {
    return ok(connection, "CreateKey", "{\"Description\":\"fuzz " + run + "\"}").path("KeyMetadata").path("KeyId").asText();
  }

  private static JsonNode ok(RawRequests connection, String operation, String body) throws IOException {
    RawRequests.Response response = connection.call("TrentService." + operation, body);
    if (response.status() != 200) {
      throw new IllegalStateException(operation + " failed: " + response.status() + " " + response.error());
    }
    return response.json();
  }

  /**
   * A run's outcome: how many cases were answered (the failing one included), in how long, how many
   * answers of each status and {@code __type}, and the first failure, if there was one.
   */
  public record Report(long seed, long first, long cases, Duration elapsed, SortedMap<String, Long> outcomes,
      Optional<String> failure) {
    public double casesPerSecond() {
      return cases / Math.max(elapsed.toNanos() / 1e9, 1e-9);
    }

    /** One line per outcome, the most frequent first. */
    public String outcomeTable() {
      return outcomes.entrySet().stream()
          .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
          .map(entry -> String.format("%10d  %s", entry.getValue(), entry.getKey()))
          .collect(Collectors.joining("\n"));
    }
  }

  /**
   * Sends cases {@code first} to {@code first + count - 1} of {@code seed}, telling {@code progress}
   * the report so far every {@code every}.
   */
  public Report run(long seed, long first, long count, Duration every, Consumer<Report> progress) {
    FuzzCases cases = new FuzzCases(seed, targets, MAX_REQUEST_BYTES);
    SortedMap<String, Long> outcomes = new TreeMap<>();
    long start = System.nanoTime();
    long reported = start;
    for (long index = first; index < first + count; index++) {
      FuzzCase fuzzCase = cases.at(index);
      Optional<String> failure;
      try {
        RawRequests.Response response = send(fuzzCase);
        outcomes.merge(outcome(response), 1L, Long::sum);
        failure = problem(response).map(problem -> String.format("%s%n  answered %d: %s%n  %s",
            fuzzCase.describe(), response.status(), excerpt(response.body()), problem));
      } catch (IOException e) {
        failure = Optional.of(fuzzCase.describe() + "\n  no answer: " + e);
      }
      long answered = index - first + 1;
      if (failure.isPresent()) {
        return report(seed, first, answered, start, outcomes, failure);
      }
      if (System.nanoTime() - reported > every.toNanos()) {
        reported = System.nanoTime();
        progress.accept(report(seed, first, answered, start, outcomes, Optional.empty()));
      }
    }
    return report(seed, first, count, start, outcomes, Optional.empty());
  }

  private static Report report(long seed, long first, long cases, long start, SortedMap<String, Long> outcomes,
      Optional<String> failure) {
    return new Report(seed, first, cases, Duration.ofNanos(System.nanoTime() - start),
        Collections.unmodifiableSortedMap(new TreeMap<>(outcomes)), failure);
  }

  /** Signs {@code fuzzCase} as it says, spoils what it says to spoil, and sends it. */
  private RawRequests.Response send(FuzzCase fuzzCase) throws IOException {
    byte[] body = fuzzCase.body();
    SdkHttpRequest.Builder unsigned = connection.post(body);
    fuzzCase.headers().forEach(unsigned::appendHeader);
    Signing signing = fuzzCase.signing();
    SdkHttpRequest signed = RawRequests.sign(unsigned.build(), body,
        signing.unknownAccessKey() ? stranger : caller, signing.region(), signing.service(),
        Clock.offset(Clock.systemUTC(), signing.skew()));
    SdkHttpRequest.Builder sent = signed.toBuilder();
    String authorization = signed.firstMatchingHeader("Authorization").orElseThrow();
    byte[] sentBody = body;
    switch (signing.after()) {
      case NOTHING -> {}
      case DROP_AUTHORIZATION -> sent.removeHeader("Authorization");
      case DROP_DATE -> sent.removeHeader("X-Amz-Date");
      case CORRUPT_SIGNATURE -> sent.putHeader("Authorization", authorization.substring(0, authorization.length() - 1)
          + (authorization.endsWith("0") ? "1" : "0"));
      case TRUNCATE_AUTHORIZATION -> sent.putHeader("Authorization",
          authorization.substring(0, authorization.length() / 2));
      case WRONG_ALGORITHM -> sent.putHeader("Authorization", authorization.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"));
      case WRONG_PAYLOAD_HASH -> sent.putHeader("x-amz-content-sha256", "0".repeat(64));
      case CHANGE_BODY -> {
        // The same length, one byte different: the signature no longer covers the body.
        sentBody = body.clone();
        if (sentBody.length > 0) {
          sentBody[sentBody.length - 1] ^= 0x01;
        }
      }
      case DUPLICATE_UNSIGNED_TARGET -> sent.appendHeader("X-Amz-Target", "TrentService.Encrypt");
      case DUPLICATE_DATE -> sent.appendHeader("X-Amz-Date", signed.firstMatchingHeader("X-Amz-Date").orElseThrow());
    }
    RawRequests.Response response = connection.send(sent.build(), sentBody);
    if (response.closes()) {
      connection.close();
      connection = new RawRequests(endpoint, caller, region);
    }
    return response;
  }

  /** {@code status __type}, or the status alone for a success or a body that is no AWS error. */
  private static String outcome(RawRequests.Response response) {
    try {
      String type = response.json().path("__type").asText("");
      return type.isEmpty() ? Integer.toString(response.status()) : response.status() + " " + type;
    } catch (IOException e) {
      return response.status() + " (no JSON)";
    }
  }

  /** What is wrong with an answer, if anything. */
  static Optional<String> problem(RawRequests.Response response) {
    int status = response.status();
    if (status != 200 && status != 400 && status != 413) {
      return Optional.of("status " + status + ": only 200, 400 and 413 are expected");
    }
    String text = new String(response.body(), UTF_8);
    if (JAVA_TRACE.matcher(text).find()) {
      return Optional.of("the body shows Java internals");
    }
    if (!FuzzCases.CONTENT_TYPE.equals(response.headers().get("content-type"))) {
      return Optional.of("Content-Type " + response.headers().get("content-type"));
    }
    JsonNode body;
    try {
      body = response.json();
    } catch (IOException e) {
      return Optional.of("the body is not JSON");
    }
    if (body == null || !body.isObject()) {
      return Optional.of("the body is not a JSON object");
    }
    if (status == 200) {
      return body.has("__type") ? Optional.of("a success with an error's __type") : Optional.empty();
    }
    // The message may be empty: AWS's InvalidCiphertextException for a wrong encryption context has none.
    if (body.size() != 2 || !ERROR_TYPES.contains(body.path("__type").asText()) || !body.path("message").isTextual()) {
      return Optional.of("not an AWS KMS error {\"__type\", \"message\"}");
    }
    return Optional.empty();
  }

  private static String excerpt(byte[] body) {
    String text = new String(body, UTF_8);
    return text.length() <= 400 ? text : text.substring(0, 400) + "...";
  }

  /**
   * Whether the service still serves: a valid Encrypt under the key no case named, on a new
   * connection. Empty if it answered as it should, else what was wrong.
   */
  public Optional<String> stillServes() throws IOException {
    try (RawRequests fresh = new RawRequests(endpoint, caller, region)) {
      RawRequests.Response response = fresh.call("TrentService.Encrypt",
          "{\"KeyId\":\"" + witnessKeyId + "\",\"Plaintext\":\"ZnV6eg==\"}");
      if (response.status() != 200 || !response.json().path("CiphertextBlob").isTextual()) {
        return Optional.of("Encrypt answered " + response.status() + ": " + excerpt(response.body()));
      }
      return problem(response);
    }
  }

  @Override
  public void close() throws IOException {
    connection.close();
  }
}
