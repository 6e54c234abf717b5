package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.base.Splitter;
import com.google.common.io.ByteStreams;
import dev.keyhold.server.auth.Credential;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.HttpSigner;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;

/**
 * Requests no AWS SDK would send (a malformed body, a wrong content type, an unknown target), signed
 * with the SDK's own SigV4 signer so that they get past authentication, and sent over one HTTP/1.1
 * connection, so that a test sees whether the server keeps it usable after each.
 */
final class RawRequests implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Longer than any answer takes: a server that has not answered by then hangs. */
  private static final Duration READ_TIMEOUT = Duration.ofSeconds(30);

  private final URI endpoint;
  private final Credential caller;
  private final String region;
  private final Socket socket;
  private final OutputStream out;
  private final InputStream in;

  /** A connection to a TestKeyhold, signing as {@code caller} for its region. */
  RawRequests(URI endpoint, Credential caller) throws IOException {
    this(endpoint, caller, TestKeyhold.ACCOUNT.region());
  }

  RawRequests(URI endpoint, Credential caller, String region) throws IOException {
    this.endpoint = endpoint;
    this.caller = caller;
    this.region = region;
    this.socket = new Socket(endpoint.getHost(), endpoint.getPort());
    socket.setSoTimeout(Math.toIntExact(READ_TIMEOUT.toMillis()));
    this.out = socket.getOutputStream();
    this.in = new BufferedInputStream(socket.getInputStream());
  }

  /** An answer: its status, headers (by lower-case name) and body. */
  record Response(int status, Map<String, String> headers, byte[] body) {
    JsonNode json() throws IOException {
      return JSON.readTree(body);
    }

    /** {@code __type: message} of an AWS error. */
    String error() throws IOException {
      return json().path("__type").asText() + ": " + json().path("message").asText();
    }

    /** Whether the server closes the connection after this answer. */
    boolean closes() {
      return "close".equalsIgnoreCase(headers.getOrDefault("connection", ""));
    }
  }

  /** A KMS call: {@code target} in {@code X-Amz-Target}, with the JSON protocol's content type. */
  Response call(String target, String body) throws IOException {
    return send(Map.of("X-Amz-Target", target, "Content-Type", "application/x-amz-json-1.1"), body.getBytes(UTF_8));
  }

  /** A signed POST / with {@code headers} (host, date and signature added) and {@code body}. */
  Response send(Map<String, String> headers, byte[] body) throws IOException {
    SdkHttpRequest.Builder unsigned = post(body);
    headers.forEach(unsigned::putHeader);
    return send(sign(unsigned.build(), body, caller, region, "kms", Clock.systemUTC()), body);
  }

  /** An unsigned POST / to this connection's endpoint with {@code body}'s Content-Length. */
  SdkHttpRequest.Builder post(byte[] body) {
    return SdkHttpRequest.builder().method(SdkHttpMethod.POST).uri(endpoint)
        .putHeader("Content-Length", Integer.toString(body.length));
  }

  /**
   * {@code unsigned} as the SDK's SigV4 signer signs it as {@code signer}, for {@code region} and
   * {@code service}, at {@code clock}'s time: with host, x-amz-date, x-amz-content-sha256 and
   * Authorization added.
   */
  static SdkHttpRequest sign(SdkHttpRequest unsigned, byte[] body, Credential signer, String region,
      String service, Clock clock) {
    return AwsV4HttpSigner.create().sign(sign -> sign
            .identity(AwsCredentialsIdentity.create(
                signer.accessKeyId(), signer.secretAccessKey().withChars(String::new)))
            .request(unsigned)
            .payload(ContentStreamProvider.fromByteArray(body))
            .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, service)
            .putProperty(AwsV4HttpSigner.REGION_NAME, region)
            .putProperty(HttpSigner.SIGNING_CLOCK, clock))
        .request();
  }

  /** Sends {@code request}'s headers as they are, each value on a line of its own, then {@code body}. */
  Response send(SdkHttpRequest request, byte[] body) throws IOException {
    // In one write: a server that answers from the head alone and closes finds the whole request sent.
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    bytes.writeBytes(head(request));
    bytes.writeBytes(body);
    out.write(bytes.toByteArray());
    out.flush();
    return read();
  }

  /**
   * A signed POST / with {@code headers} whose body arrives in two parts, {@code pause} apart, as over
   * a slow network: the server reads it in two pieces.
   */
  Response sendInTwoParts(Map<String, String> headers, byte[] body, Duration pause)
      throws IOException, InterruptedException {
    SdkHttpRequest.Builder unsigned = post(body);
    headers.forEach(unsigned::putHeader);
    out.write(head(sign(unsigned.build(), body, caller, region, "kms", Clock.systemUTC())));
    out.write(body, 0, body.length / 2);
    out.flush();
    Thread.sleep(pause.toMillis());
    out.write(body, body.length / 2, body.length - body.length / 2);
    out.flush();
    return read();
  }

  private static byte[] head(SdkHttpRequest request) {
    StringBuilder head = new StringBuilder("POST / HTTP/1.1\r\n");
    request.forEachHeader(
        (name, values) -> values.forEach(value -> head.append(name).append(": ").append(value).append("\r\n")));
    return head.append("\r\n").toString().getBytes(US_ASCII);
  }

  /** Reads one response: a status line, headers, and a body of Content-Length bytes. */
  private Response read() throws IOException {
    List<String> head = List.of(readHead().split("\r\n"));
    int status = Integer.parseInt(Splitter.on(' ').splitToList(head.get(0)).get(1));
    Map<String, String> headers = new LinkedHashMap<>();
    for (String line : head.subList(1, head.size())) {
      int colon = line.indexOf(':');
      headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
    }
    byte[] body = new byte[Integer.parseInt(headers.getOrDefault("content-length", "0"))];
    ByteStreams.readFully(in, body);
    return new Response(status, headers, body);
  }

  private String readHead() throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(US_ASCII).endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("the server closed the connection");
      }
      head.write(b);
    }
    return head.toString(US_ASCII).strip();
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
