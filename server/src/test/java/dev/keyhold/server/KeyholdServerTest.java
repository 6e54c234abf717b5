package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.server.ops.RequestOutcome;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.kms.KmsClient;

/** The server around the KMS API: health, metrics, the body limit, graceful shutdown. */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KeyholdServerTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final int LIMIT = 1024;
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The close test's request, held up in the observers until released. */
  private static volatile boolean holdNext;
  private static final CountDownLatch held = new CountDownLatch(1);
  private static final CountDownLatch release = new CountDownLatch(1);

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static KmsClient admin;
  private static final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, builder -> builder
        .maxRequestBytes(LIMIT)
        .shutdownTimeout(Duration.ofSeconds(20))
        .observer(KeyholdServerTest::holdUp));
    admin = keyhold.client(keyhold.admin);
  }

  @AfterAll
  static void stop() {
    admin.close();
    keyhold.close();
  }

  @Test
  @Order(1)
  void healthReportsTheClustersOfConnectedKeyStores() throws Exception {
    HttpResponse<String> unchecked = get("/health");
    assertThat(unchecked.statusCode()).isEqualTo(200);
    assertThat(unchecked.headers().firstValue("content-type")).hasValue("application/json");
    assertThat(unchecked.headers().firstValue("x-amzn-RequestId").map(UUID::fromString)).isPresent();
    assertThat(JSON.readTree(unchecked.body()).path("keyStoresChecked").asInt()).isZero();

    keyhold.checkClusterHealth();
    JsonNode checked = JSON.readTree(get("/health").body());

    assertThat(checked.path("status").asText()).isEqualTo("ACTIVE");
    assertThat(checked.path("keyStores").get(0).path("id").asText()).isEqualTo(keyhold.storeId);
  }

  @Test
  @Order(2)
  void metricsCountTheRequestsServed() throws Exception {
    admin.generateRandom(r -> r.numberOfBytes(8));

    HttpResponse<String> metrics = get("/metrics");

    assertThat(metrics.statusCode()).isEqualTo(200);
    assertThat(metrics.headers().firstValue("content-type"))
        .hasValueSatisfying(type -> assertThat(type).startsWith("text/plain"));
    assertThat(metrics.body()).contains("keyhold_requests_total{operation=\"GenerateRandom\",outcome=\"success\"} 1")
        .contains("keyhold_hsm_sessions_in_use{hsm=");
    assertThat(get("/elsewhere").statusCode()).isEqualTo(404);
  }

  @Test
  @Order(3)
  void aBodyOverTheLimitIsRefusedAndTheConnectionKept() throws IOException {
    try (RawRequests connection = new RawRequests(keyhold.endpoint(), keyhold.admin)) {
      RawRequests.Response refused = connection.call("TrentService.GenerateRandom", jsonOfLength(LIMIT + 1));

      assertThat(refused.status()).isEqualTo(413);
      assertThat(refused.error()).isEqualTo("ValidationException: The request body is larger than 1024 bytes.");
      assertThat(connection.call("TrentService.GenerateRandom", jsonOfLength(LIMIT)).status()).isEqualTo(200);
    }
  }

  @Test
  @Order(4)
  void aBodyFarOverTheLimitIsRefusedAndItsConnectionClosed() throws IOException {
    try (RawRequests connection = new RawRequests(keyhold.endpoint(), keyhold.admin)) {
      RawRequests.Response refused = connection.call("TrentService.GenerateRandom", jsonOfLength(64 * LIMIT));

      assertThat(refused.status()).isEqualTo(413);
      assertThat(refused.error()).isEqualTo("ValidationException: The request body is larger than 1024 bytes.");
      assertThat(refused.headers()).containsEntry("connection", "close");
    }
    assertThat(admin.generateRandom(r -> r.numberOfBytes(8)).plaintext().asByteArray()).hasSize(8);
  }

  @Test
  @Order(5)
  void closeLetsRequestsUnderWayFinishAndTakesNoNewOnes() throws Exception {
    try (RawRequests openConnection = new RawRequests(keyhold.endpoint(), keyhold.admin)) {
      assertThat(openConnection.call("TrentService.GenerateRandom", "{\"NumberOfBytes\": 1}").status()).isEqualTo(200);
      holdNext = true;
      // Threads of their own: the common pool may have one thread on a small machine, which the held
      // request would keep from the close.
      ExecutorService threads = Executors.newCachedThreadPool();
      CompletableFuture<Integer> slow = CompletableFuture.supplyAsync(
          () -> admin.generateRandom(r -> r.numberOfBytes(42)).plaintext().asByteArray().length, threads);
      assertThat(held.await(10, TimeUnit.SECONDS)).isTrue();

      CompletableFuture<Void> closing = CompletableFuture.runAsync(keyhold.server::close, threads);
      // Once the close has begun (on a busy machine its thread may start late), new requests are refused.
      int status = 200;
      for (long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
          status == 200 && System.nanoTime() < deadline; Thread.sleep(20)) {
        status = openConnection.call("TrentService.GenerateRandom", "{\"NumberOfBytes\": 1}").status();
      }
      assertThat(status).isEqualTo(503);
      assertThat(closing).isNotDone();
      assertThat(slow).isNotDone();

      release.countDown();
      closing.get(10, TimeUnit.SECONDS);
      assertThat(slow.get()).isEqualTo(42);
      threads.shutdown();
    }
  }

  /** Keeps the first GenerateRandom after {@link #holdNext} is set under way until the test releases it. */
  private static void holdUp(RequestOutcome outcome) {
    if (outcome.operation().equals("GenerateRandom") && holdNext) {
      holdNext = false;
      held.countDown();
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(keyhold.endpoint().resolve(path)).build(),
        HttpResponse.BodyHandlers.ofString(UTF_8));
  }

  /** A GenerateRandom body of exactly {@code length} bytes: a JSON object padded with spaces. */
  private static String jsonOfLength(int length) {
    String json = "{\"NumberOfBytes\": 8}";
    char[] padding = new char[length - json.length()];
    Arrays.fill(padding, ' ');
    return json + new String(padding);
  }
}
