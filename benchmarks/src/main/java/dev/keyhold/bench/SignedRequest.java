package dev.keyhold.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * One KMS request exactly as the AWS SDK signed and sent it (method, URI, every header, the
 * {@code Authorization} and {@code X-Amz-Date} ones included, and the JSON body), captured from a
 * real call, to be sent again as it is. SigV4 accepts the same signature for 5 minutes (Keyhold's
 * {@code SigV4Authenticator} checks the date, not uniqueness), so a replay costs its sender no
 * signing, marshalling or parsing: what it measures is the server.
 *
 * <p>Capturing it through the SDK's own {@code KmsClient} rather than signing here keeps one signer in
 * the project's benchmarks: the SDK's, which the server verifies with the same code.
 */
public record SignedRequest(SdkHttpRequest request, byte[] body) {
  /** How long after signing a replay is still accepted, with a margin for the clocks and the run. */
  public static final Duration VALID_FOR = Duration.ofMinutes(4);

  /**
   * Makes {@code operation}'s call once through a client of {@code keyhold} signing as the account
   * root, and returns the request it sent; the call must succeed.
   */
  public static SignedRequest capture(EmbeddedKeyhold keyhold, SdkHttpClient http, KmsOperation operation,
      String keyId, byte[] payload) {
    AtomicReference<SignedRequest> sent = new AtomicReference<>();
    ExecutionInterceptor recorder = new ExecutionInterceptor() {
      @Override
      public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
        byte[] body = context.requestBody()
            .map(requestBody -> readAll(requestBody.contentStreamProvider()))
            .orElse(new byte[0]);
        sent.set(new SignedRequest(context.httpRequest(), body));
      }
    };
    try (KmsClient client = keyhold.client(http, recorder)) {
      operation.overHttp(client, keyId, payload).run();
    }
    return sent.get();
  }

  /** The headers as sent, but {@code Content-Length}, which an HTTP client sets from the body itself. */
  public Map<String, List<String>> headersButLength() {
    return request.headers().entrySet().stream()
        .filter(header -> !header.getKey().equalsIgnoreCase("Content-Length"))
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
  }

  private static byte[] readAll(ContentStreamProvider body) {
    try (InputStream in = body.newStream()) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the body of the request being captured", e);
    }
  }
}
