package dev.keyhold.bench;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;

/**
 * Replays a captured request against a small HTTP server in this JVM, with the real wrk
 * (bin/prerequisites.sh --for-tests installs it) and with the open loop's sockets ({@link
 * SocketReplay}): each must send it exactly as signed, headers and body, and an answer that is not 2xx
 * must fail the run rather than be reported.
 */
class ReplayTest {
  /** A body with the characters a Lua string literal must escape. */
  private static final String BODY = "{\"KeyId\":\"k\",\"Plaintext\":\"AAEC\\\\/+==\",\"Note\":\"caf\u00e9\"}";
  private static final String AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1/kms/"
      + "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd";
  /** What the server receives of a request sent as signed. */
  private static final String AS_SIGNED = String.join("|", "POST /", "application/x-amz-json-1.1",
      "TrentService.Encrypt", "20261205T120000Z", AUTHORIZATION, BODY);
  /** An answer longer than the buffer a socket replay starts with. */
  private static final byte[] ANSWER = ("{\"Pad\":\"" + "x".repeat(6000) + "\"}").getBytes(UTF_8);

  @TempDir
  Path work;

  @Test
  void replaysTheRequestAsSignedAndGivesTheServersCpuPerRequest() throws Exception {
    List<String> received = Collections.synchronizedList(new ArrayList<>());
    HttpServer server = serve(200, received);
    try {
      Wrk.Result result = Wrk.replaying(request(server), work).run(4, Duration.ofSeconds(1));

      assertThat(result.connections()).isEqualTo(4);
      assertThat(result.threads()).isEqualTo(2);
      assertThat(result.requests()).isPositive();
      assertThat(result.perSecond()).isPositive();
      assertThat(result.p99Millis()).isGreaterThanOrEqualTo(result.p50Millis()).isPositive();
      // The server is this JVM, so its CPU time is what the run measures per request.
      assertThat(result.serverCpuMicrosPerRequest()).isPositive();
      // wrk's own, counted once it has ended: something, and less than a millisecond a request.
      assertThat(result.wrkCpuMicrosPerRequest()).isPositive().isLessThan(1000);
      assertThat(received).isNotEmpty().containsOnly(AS_SIGNED);
    } finally {
      server.stop(0);
    }
  }

  @Test
  void anAnswerThatIsNot2xxFailsTheRun() throws Exception {
    HttpServer server = serve(403, Collections.synchronizedList(new ArrayList<>()));
    try {
      Wrk wrk = Wrk.replaying(request(server), work);

      assertThatThrownBy(() -> wrk.run(1, Duration.ofSeconds(1)))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("answers that were not 2xx");
    } finally {
      server.stop(0);
    }
  }

  @Test
  void theSocketsReplayTheRequestAsSignedAndReadEveryAnswer() throws Exception {
    List<String> received = Collections.synchronizedList(new ArrayList<>());
    HttpServer server = serve(200, received);
    try (SocketReplay replay = SocketReplay.of(request(server))) {
      for (int call = 0; call < 3; call++) {
        replay.run(); // each answer read whole, or the next call would read its rest
      }
      Thread thread = new Thread(replay);
      thread.start();
      thread.join();

      assertThat(received).containsExactly(AS_SIGNED, AS_SIGNED, AS_SIGNED, AS_SIGNED);
    } finally {
      server.stop(0);
    }
  }

  @Test
  void aSocketReplayAnsweredOtherThan2xxThrows() throws Exception {
    HttpServer server = serve(403, Collections.synchronizedList(new ArrayList<>()));
    try (SocketReplay replay = SocketReplay.of(request(server))) {
      assertThatThrownBy(replay::run).isInstanceOf(IllegalStateException.class).hasMessage(
          "a replayed request was answered 403");
    } finally {
      server.stop(0);
    }
  }

  private static SignedRequest request(HttpServer server) {
    return new SignedRequest(SdkHttpRequest.builder()
        .method(SdkHttpMethod.POST)
        .uri(URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/"))
        .putHeader("Content-Type", "application/x-amz-json-1.1")
        .putHeader("X-Amz-Target", "TrentService.Encrypt")
        .putHeader("X-Amz-Date", "20261205T120000Z")
        .putHeader("Authorization", AUTHORIZATION)
        .putHeader("Content-Length", Integer.toString(BODY.getBytes(UTF_8).length))
        .build(), BODY.getBytes(UTF_8));
  }

  /** A server answering every request with {@code status}, adding what it received to {@code received}. */
  private static HttpServer serve(int status, List<String> received) throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    ExecutorService threads = Executors.newFixedThreadPool(2);
    server.setExecutor(threads);
    server.createContext("/", exchange -> {
      var headers = exchange.getRequestHeaders();
      received.add(String.join("|", exchange.getRequestMethod() + " " + exchange.getRequestURI(),
          headers.getFirst("Content-Type"), headers.getFirst("X-Amz-Target"), headers.getFirst("X-Amz-Date"),
          headers.getFirst("Authorization"), new String(exchange.getRequestBody().readAllBytes(), UTF_8)));
      exchange.sendResponseHeaders(status, ANSWER.length);
      exchange.getResponseBody().write(ANSWER);
      exchange.close();
    });
    server.start();
    return server;
  }
}
