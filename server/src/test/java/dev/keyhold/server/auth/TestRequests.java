package dev.keyhold.server.auth;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableListMultimap;
import java.net.URI;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Locale;
import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.HttpSigner;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;

/** KMS requests signed with the AWS SDK's public signer, as the server sees them, and edits of them. */
final class TestRequests {
  static final String REGION = "eu-west-1";
  static final String ENCRYPT_BODY = "{\"KeyId\":\"alias/demo\",\"Plaintext\":\"aGVsbG8=\"}";

  private TestRequests() {}

  /**
   * An Encrypt request signed as the AWS SDK for Java v2 KmsClient signs one: the headers it sets
   * are signed, and the signer adds host, x-amz-date and x-amz-content-sha256. Only its
   * amz-sdk-invocation-id is left out, for tests to add unsigned.
   */
  static HttpRequestView signedEncrypt(
      AwsCredentialsIdentity identity, String region, String service, Instant at) {
    SdkHttpRequest request = SdkHttpRequest.builder()
        .method(SdkHttpMethod.POST)
        .uri(URI.create("http://127.0.0.1:8080/"))
        .putHeader("amz-sdk-request", "attempt=1; max=4")
        .putHeader("Content-Length", Integer.toString(ENCRYPT_BODY.getBytes(UTF_8).length))
        .putHeader("Content-Type", "application/x-amz-json-1.1")
        .putHeader("X-Amz-Target", "TrentService.Encrypt")
        .build();
    SdkHttpRequest signed = AwsV4HttpSigner.create().sign(sign -> sign
            .identity(identity)
            .request(request)
            .payload(ContentStreamProvider.fromUtf8String(ENCRYPT_BODY))
            .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, service)
            .putProperty(AwsV4HttpSigner.REGION_NAME, region)
            .putProperty(HttpSigner.SIGNING_CLOCK, Clock.fixed(at, ZoneOffset.UTC)))
        .request();
    return view(signed, ENCRYPT_BODY.getBytes(UTF_8));
  }

  static HttpRequestView signedEncrypt(Credential credential, Instant at) {
    return signedEncrypt(identity(credential), REGION, SigV4Authenticator.SERVICE, at);
  }

  static AwsCredentialsIdentity identity(Credential credential) {
    return AwsCredentialsIdentity.create(credential.accessKeyId(), secret(credential));
  }

  static String secret(Credential credential) {
    return credential.secretAccessKey().withChars(String::new);
  }

  /** What the HTTP layer hands the authenticator: header names in lower case. */
  static HttpRequestView view(SdkHttpRequest request, byte[] body) {
    ImmutableListMultimap.Builder<String, String> headers = ImmutableListMultimap.builder();
    request.forEachHeader((name, values) -> headers.putAll(name.toLowerCase(Locale.ROOT), values));
    String query = request.encodedQueryParameters().orElse("");
    return new HttpRequestView(request.method().name(), request.encodedPath(), query, headers.build(), body);
  }

  /** {@code request} with every value of {@code name} replaced by {@code value}. */
  static HttpRequestView withHeader(HttpRequestView request, String name, String value) {
    return new HttpRequestView(request.method(), request.path(), request.rawQuery(),
        ImmutableListMultimap.<String, String>builder()
            .putAll(withoutHeader(request, name).headers())
            .put(name, value)
            .build(),
        request.body());
  }

  static HttpRequestView withoutHeader(HttpRequestView request, String name) {
    ImmutableListMultimap.Builder<String, String> headers = ImmutableListMultimap.builder();
    request.headers().entries().stream()
        .filter(header -> !header.getKey().equals(name))
        .forEach(headers::put);
    return new HttpRequestView(
        request.method(), request.path(), request.rawQuery(), headers.build(), request.body());
  }

  static HttpRequestView withBody(HttpRequestView request, String body) {
    return new HttpRequestView(request.method(), request.path(), request.rawQuery(), request.headers(),
        body.getBytes(UTF_8));
  }

  static HttpRequestView withQuery(HttpRequestView request, String rawQuery) {
    return new HttpRequestView(request.method(), request.path(), rawQuery, request.headers(), request.body());
  }

  /** The value of one parameter of the request's Authorization header. */
  static String authorizationParameter(HttpRequestView request, String parameter) {
    String header = request.headers().get("authorization").get(0);
    int start = header.indexOf(parameter + "=") + parameter.length() + 1;
    int end = header.indexOf(',', start);
    return header.substring(start, end < 0 ? header.length() : end);
  }

  /** {@code request} with one parameter of its Authorization header replaced. */
  static HttpRequestView withAuthorizationParameter(HttpRequestView request, String parameter, String value) {
    String header = request.headers().get("authorization").get(0);
    return withHeader(request, "authorization",
        header.replace(parameter + "=" + authorizationParameter(request, parameter), parameter + "=" + value));
  }
}
