package dev.keyhold.server.auth;

import static dev.keyhold.server.auth.TestRequests.REGION;
import static dev.keyhold.server.auth.TestRequests.authorizationParameter;
import static dev.keyhold.server.auth.TestRequests.identity;
import static dev.keyhold.server.auth.TestRequests.secret;
import static dev.keyhold.server.auth.TestRequests.signedEncrypt;
import static dev.keyhold.server.auth.TestRequests.withAuthorizationParameter;
import static dev.keyhold.server.auth.TestRequests.withBody;
import static dev.keyhold.server.auth.TestRequests.withHeader;
import static dev.keyhold.server.auth.TestRequests.withQuery;
import static dev.keyhold.server.auth.TestRequests.withoutHeader;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.collect.ImmutableListMultimap;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.WireException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.AbortableInputStream;
import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.HttpExecuteResponse;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.SdkHttpResponse;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;
import software.amazon.awssdk.identity.spi.AwsSessionCredentialsIdentity;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;

class SigV4AuthenticatorTest {
  private static final Instant NOW = Instant.parse("2025-01-01T12:00:00Z");
  private static final String SIGNATURE_MISMATCH = "The request signature we calculated does not match the "
      + "signature you provided. Check your AWS Secret Access Key and signing method. "
      + "Consult the service documentation for details.";
  private static final Pattern SIGNATURE = Pattern.compile("Signature=([0-9a-f]+)");

  @TempDir Path directory;

  private CredentialStore store;
  private Credential alice;
  private Credential admin;
  private SigV4Authenticator authenticator;

  @BeforeEach
  void configureTwoCredentials() {
    store = CredentialStore.load(directory.resolve("credentials.json"),
        MasterKey.loadOrCreate(directory.resolve("master.key")));
    // The key the AWS CLI request below was recorded with.
    alice = new Credential("AKIAIOSFODNN7EXAMPLE",
        SecretAccessKey.of("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".toCharArray()),
        "arn:aws:iam::111122223333:user/alice");
    admin = Credential.generate("arn:aws:iam::111122223333:root", new SecureRandom());
    store.add(alice);
    store.add(admin);
    authenticator = new SigV4Authenticator(store, REGION, Clock.fixed(NOW, ZoneOffset.UTC));
  }

  @Test
  void acceptsTheKmsClientOfTheAwsSdkForJavaV2() {
    AtomicReference<HttpRequestView> sent = new AtomicReference<>();
    try (KmsClient kms = KmsClient.builder()
        .endpointOverride(URI.create("http://127.0.0.1:8080"))
        .region(Region.of(REGION))
        .credentialsProvider(StaticCredentialsProvider.create(
            AwsBasicCredentials.create(alice.accessKeyId(), secret(alice))))
        .httpClient(new CapturingHttpClient(sent))
        .build()) {
      kms.encrypt(request -> request.keyId("alias/demo").plaintext(SdkBytes.fromUtf8String("hello")));
    }

    assertThat(authorizationParameter(sent.get(), "SignedHeaders"))
        .as("the SDK signs its invocation id and the body hash header")
        .contains("amz-sdk-invocation-id", "x-amz-content-sha256");
    assertThat(new SigV4Authenticator(store, REGION, Clock.systemUTC()).authenticate(sent.get()))
        .isEqualTo(alice.caller());
  }

  /**
   * Recorded from botocore 1.43.11, which the AWS CLI signs with, its clock set to 2025-01-01T12:00:00Z:
   * it signs neither x-amz-content-sha256 nor its amz-sdk-* headers.
   */
  @Test
  void acceptsTheAwsCli() {
    HttpRequestView request = new HttpRequestView("POST", "/", "",
        ImmutableListMultimap.<String, String>builder()
            .put("host", "127.0.0.1:8080")
            .put("x-amz-target", "TrentService.Encrypt")
            .put("content-type", "application/x-amz-json-1.1")
            .put("user-agent", "Botocore/1.43.11 ua/2.1 os/linux#6.18.44-fc-v595 md/arch#x86_64 "
                + "lang/python#3.11.7 md/pyimpl#CPython m/b,e,Z,N,D cfg/retry-mode#legacy")
            .put("x-amz-date", "20250101T120000Z")
            .put("authorization", "AWS4-HMAC-SHA256 "
                + "Credential=AKIAIOSFODNN7EXAMPLE/20250101/eu-west-1/kms/aws4_request, "
                + "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                + "Signature=7bca7dc473d6eb92348be2e503e8cd562967ef9eda3a4d3c1da0581e6ed4803b")
            .put("amz-sdk-invocation-id", "665fd90f-0ee5-4153-9c97-1582ae470b0b")
            .put("amz-sdk-request", "attempt=1")
            .put("content-length", "48")
            .build(),
        "{\"KeyId\": \"alias/demo\", \"Plaintext\": \"aGVsbG8=\"}".getBytes(UTF_8));

    assertThat(authenticator.authenticate(request)).isEqualTo(alice.caller());
  }

  @Test
  void returnsTheCallerTheOperatorConfigured() {
    assertThat(authenticator.authenticate(signedEncrypt(admin, NOW)))
        .isEqualTo(new Caller(admin.accessKeyId(), "arn:aws:iam::111122223333:root", "111122223333"));
    assertThat(authenticator.authenticate(signedEncrypt(alice, NOW)))
        .isEqualTo(new Caller(
            "AKIAIOSFODNN7EXAMPLE", "arn:aws:iam::111122223333:user/alice", "111122223333"));
  }

  @Test
  void ignoresHeadersThatWereNotSigned() {
    HttpRequestView request = withHeader(
        withHeader(signedEncrypt(alice, NOW), "amz-sdk-invocation-id", "5f1c3a4e-3c5d-4b0e-9d7e-2f6a1b8c9d0e"),
        "user-agent", "aws-sdk-java/2.57.8");

    assertThat(authenticator.authenticate(request)).isEqualTo(alice.caller());
  }

  @Test
  void refusesAChangedSignedHeaderOrBody() {
    HttpRequestView request = signedEncrypt(alice, NOW);

    assertRefused(withHeader(request, "x-amz-target", "TrentService.Decrypt"),
        WireException.Type.InvalidSignatureException, SIGNATURE_MISMATCH);
    assertRefused(withBody(request, "{\"KeyId\":\"alias/other\",\"Plaintext\":\"aGVsbG8=\"}"),
        WireException.Type.InvalidSignatureException, SIGNATURE_MISMATCH);
  }

  @Test
  void refusesAWrongSecret() {
    HttpRequestView request = signedEncrypt(
        AwsCredentialsIdentity.create(alice.accessKeyId(), "not-alices-secret"), REGION, "kms", NOW);

    assertRefused(request, WireException.Type.InvalidSignatureException, SIGNATURE_MISMATCH);
  }

  @Test
  void refusesAnUnknownAccessKeyId() {
    HttpRequestView request = signedEncrypt(
        AwsCredentialsIdentity.create("AKIAUNKNOWNUNKNOWN00", secret(alice)), REGION, "kms", NOW);

    assertRefused(request, WireException.Type.UnrecognizedClientException,
        "The security token included in the request is invalid.");
  }

  @Test
  void refusesASessionTokenKeyholdNeverIssued() {
    AwsCredentialsIdentity withToken =
        AwsSessionCredentialsIdentity.create(alice.accessKeyId(), secret(alice), "session-token");
    HttpRequestView request = signedEncrypt(withToken, REGION, "kms", NOW);

    assertThat(authorizationParameter(request, "SignedHeaders")).contains("x-amz-security-token");
    assertRefused(request, WireException.Type.UnrecognizedClientException,
        "The security token included in the request is invalid.");
  }

  @Test
  void refusesARequestWithoutAnAwsSignature() {
    HttpRequestView unsigned = withoutHeader(signedEncrypt(alice, NOW), "authorization");

    assertRefused(unsigned, WireException.Type.MissingAuthenticationTokenException,
        "Request is missing Authentication Token");
    assertRefused(withHeader(unsigned, "authorization", "Basic YWxpY2U6c2VjcmV0"),
        WireException.Type.MissingAuthenticationTokenException, "Request is missing Authentication Token");
  }

  @Test
  void refusesQueryStringSignatures() {
    HttpRequestView presigned = withQuery(withoutHeader(signedEncrypt(alice, NOW), "authorization"),
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250101%2Feu-west-1%2Fkms"
            + "%2Faws4_request&X-Amz-Date=20250101T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00");

    assertRefused(presigned, WireException.Type.IncompleteSignatureException,
        "Keyhold takes SigV4 in the Authorization header only, not in the query string (X-Amz-Algorithm).");
  }

  @Test
  void namesEveryMissingPartOfTheSignature() {
    HttpRequestView request = signedEncrypt(alice, NOW);
    String signature = authorizationParameter(request, "Signature");

    assertRefused(withHeader(withoutHeader(request, "x-amz-date"), "authorization",
            "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date"),
        WireException.Type.IncompleteSignatureException,
        "Authorization header requires 'Credential' parameter. "
            + "Authorization header requires 'Signature' parameter. "
            + "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            + "Authorization=AWS4-HMAC-SHA256");
    assertRefused(withHeader(request, "authorization",
            "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date,Signature=" + signature),
        WireException.Type.IncompleteSignatureException,
        "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256");
  }

  @Test
  void refusesAnotherAlgorithm() {
    HttpRequestView request = signedEncrypt(alice, NOW);
    String authorization = request.headers().get("authorization").get(0);

    assertRefused(withHeader(request, "authorization",
            authorization.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")),
        WireException.Type.IncompleteSignatureException,
        "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256' (only AWS4-HMAC-SHA256 for now). ");
  }

  @Test
  void refusesADateNotInIsoBasicFormat() {
    HttpRequestView request = signedEncrypt(alice, NOW);

    assertRefused(withHeader(request, "x-amz-date", "2025-01-01T12:00:00Z"),
        WireException.Type.IncompleteSignatureException,
        "Date must be in ISO-8601 'basic format'. Got '2025-01-01T12:00:00Z'. "
            + "See http://en.wikipedia.org/wiki/ISO_8601");
    assertRefused(withHeader(withoutHeader(request, "x-amz-date"), "date", "Wed, 01 Jan 2025 12:00:00 GMT"),
        WireException.Type.IncompleteSignatureException,
        "Date must be in ISO-8601 'basic format'. Got 'Wed, 01 Jan 2025 12:00:00 GMT'. "
            + "See http://en.wikipedia.org/wiki/ISO_8601");
  }

  @Test
  void acceptsADateUpToFiveMinutesFromTheClock() {
    assertThat(authenticator.authenticate(signedEncrypt(alice, NOW.minusSeconds(300)))).isEqualTo(alice.caller());
    assertThat(authenticator.authenticate(signedEncrypt(alice, NOW.plusSeconds(300)))).isEqualTo(alice.caller());

    assertRefused(signedEncrypt(alice, NOW.minusSeconds(301)), WireException.Type.InvalidSignatureException,
        "Signature expired: 20250101T115459Z is now earlier than 20250101T115500Z "
            + "(20250101T120000Z - 5 min.)");
    assertRefused(signedEncrypt(alice, NOW.plusSeconds(301)), WireException.Type.InvalidSignatureException,
        "Signature not yet current: 20250101T120501Z is still later than 20250101T120500Z "
            + "(20250101T120000Z + 5 min.)");
  }

  @Test
  void requiresTheHostHeaderToBeSigned() {
    HttpRequestView request = withAuthorizationParameter(signedEncrypt(alice, NOW), "SignedHeaders",
        "content-type;x-amz-date;x-amz-target");

    assertRefused(request, WireException.Type.InvalidSignatureException,
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }

  @Test
  void refusesAScopeOfAnotherRegionOrService() {
    assertRefused(signedEncrypt(identity(alice), "us-east-1", "kms", NOW), WireException.Type.InvalidSignatureException,
        "Credential should be scoped to a valid region, not 'us-east-1'. ");
    assertRefused(signedEncrypt(identity(alice), REGION, "s3", NOW), WireException.Type.InvalidSignatureException,
        "Credential should be scoped to correct service: 'kms'. ");
  }

  @Test
  void namesEveryMismatchOfTheScope() {
    HttpRequestView request = withAuthorizationParameter(signedEncrypt(alice, NOW), "Credential",
        "AKIAIOSFODNN7EXAMPLE/20241231/eu-west-1/kms/aws5_request");

    assertRefused(request, WireException.Type.InvalidSignatureException,
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
            + "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            + "'20241231' != '20250101', from '20250101T120000Z'.");
  }

  @Test
  void refusesACredentialOfOtherThanFiveElements() {
    HttpRequestView request = withAuthorizationParameter(signedEncrypt(alice, NOW), "Credential",
        "AKIAIOSFODNN7EXAMPLE/20250101/eu-west-1/kms");

    assertRefused(request, WireException.Type.IncompleteSignatureException,
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            + "got 'AKIAIOSFODNN7EXAMPLE/20250101/eu-west-1/kms'");
  }

  @Test
  @SuppressWarnings("ObjectToString") // guards against a future toString that would show a secret
  void neverShowsASecretOrSignature() {
    HttpRequestView request = signedEncrypt(alice, NOW);
    String signature = authorizationParameter(request, "Signature");
    AuthorizationHeader header = AuthorizationHeader.parse(request.headers().get("authorization").get(0), true);

    assertThat(header.signature()).isEqualTo(signature);
    assertThat(header.toString()).contains(alice.accessKeyId()).doesNotContain(signature);
    assertThat(authenticator.toString()).doesNotContain(secret(alice));
  }

  /** Also checks that the error repeats neither the request's signature nor any secret. */
  private void assertRefused(HttpRequestView request, WireException.Type type, String message) {
    assertThatThrownBy(() -> authenticator.authenticate(request))
        .isInstanceOfSatisfying(WireException.class, e -> {
          assertThat(e.type()).isEqualTo(type);
          assertThat(e.getMessage()).isEqualTo(message);
          assertThat(e.getMessage()).doesNotContain(secret(alice), secret(admin));
          for (String header : request.headers().get("authorization")) {
            Matcher signature = SIGNATURE.matcher(header);
            if (signature.find()) {
              assertThat(e.getMessage()).doesNotContain(signature.group(1));
            }
          }
        });
  }

  /** Answers every request with an Encrypt response, keeping the last request as the server would see it. */
  private static final class CapturingHttpClient implements SdkHttpClient {
    private final AtomicReference<HttpRequestView> sent;

    CapturingHttpClient(AtomicReference<HttpRequestView> sent) {
      this.sent = sent;
    }

    @Override
    public ExecutableHttpRequest prepareRequest(HttpExecuteRequest request) {
      byte[] body;
      try {
        body = request.contentStreamProvider().orElseThrow().newStream().readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      sent.set(TestRequests.view(request.httpRequest(), body));
      return new ExecutableHttpRequest() {
        @Override
        public HttpExecuteResponse call() {
          return HttpExecuteResponse.builder()
              .response(SdkHttpResponse.builder()
                  .statusCode(200)
                  .putHeader("Content-Type", "application/x-amz-json-1.1")
                  .build())
              .responseBody(AbortableInputStream.create(new ByteArrayInputStream(
                  "{\"KeyId\":\"alias/demo\",\"CiphertextBlob\":\"AA==\"}".getBytes(UTF_8))))
              .build();
        }

        @Override
        public void abort() {}
      };
    }

    @Override
    public void close() {}
  }
}
