package dev.keyhold.server.auth;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.collect.ImmutableListMultimap;
import com.google.common.collect.ImmutableSet;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The server's SigV4 signer against the AWS SDK's own, request for request. */
class RequestSignerTest {
  private static final DateTimeFormatter BASIC = DateTimeFormatter.ofPattern("uuuuMMdd'T'HHmmss'Z'")
      .withZone(ZoneOffset.UTC);
  private static final List<String> PATHS = List.of("/", "/", "/", "", "/a", "/a/", "/a/./b/../c", "/%20x",
      "/a%2Fb", "/~user/*", "/x//y", "/./", "/../a", "/caf%C3%A9", "/a+b", "/a=b;c", "/a/b/.", "/:@!$&'()");
  private static final List<String> QUERIES = List.of("", "", "", "a=1", "b=2&a=1", "a=2&a=1", "a", "a=",
      "=x", "a=1&&b", "x=%2B+y", "k=~*'()", "z=%C3%A9&y=%7E", "list=1,2,3");
  private static final List<String> VALUES = List.of("v", "  spaced   out  ", "\ttab\tbed\t", "", "a,b", "a, b ,c:  d:",
      "multi\u000bspace\f\r\nend", "application/x-amz-json-1.1", "TrentService.Encrypt", "caf\u00e9");
  private static final List<String> NAMES = List.of("host", "x-amz-date", "content-type", "x-amz-target",
      "x-custom", "user-agent", "x-amzn-trace-id", "content-length");

  private final RequestSigner signer = new RequestSigner(TestRequests.REGION, SigV4Authenticator.SERVICE);
  private final SdkRequestSigner sdk = new SdkRequestSigner(TestRequests.REGION, SigV4Authenticator.SERVICE);
  private final Random random = new Random(16);

  @Test
  void signsAsTheSdkDoesWhateverThePathQueryHeadersAndBody() {
    Credential alice = Credential.generate("arn:aws:iam::111122223333:user/alice", new SecureRandom());
    Credential bob = Credential.generate("arn:aws:iam::111122223333:user/bob", new SecureRandom());
    int compared = 0;
    for (int i = 0; i < 1_000; i++) {
      HttpRequestView request = randomRequest();
      List<String> signed = randomSignedHeaders();
      Credential credential = random.nextBoolean() ? alice : bob;
      // A few days, so that the signing keys are derived, reused and replaced.
      Instant at = Instant.parse("2026-12-05T10:15:30Z").plusSeconds(86_400L * random.nextInt(3));
      String expected;
      try {
        expected = sdk.signature(request, signed, credential, at);
      } catch (IllegalArgumentException e) {
        continue; // no SDK could have signed it
      }
      assertThat(signer.signature(request, signed, credential, BASIC.format(at)))
          .as("%s %s?%s %s signing %s", request.method(), request.path(), request.rawQuery(), request.headers(),
              signed)
          .isEqualTo(expected);
      compared++;
    }
    assertThat(compared).isGreaterThan(600);
  }

  @Test
  void aSecretReplacedUnderTheSameAccessKeyIdGetsItsOwnSigningKey() {
    Credential first = Credential.generate("arn:aws:iam::111122223333:user/alice", new SecureRandom());
    Credential replaced = new Credential(first.accessKeyId(), SecretAccessKey.random(new SecureRandom()),
        first.principalArn());
    HttpRequestView request = randomRequest();
    Instant at = Instant.parse("2026-12-05T10:15:30Z");
    List<String> signed = List.of("host", "x-amz-date");

    String before = signer.signature(request, signed, first, BASIC.format(at));
    String after = signer.signature(request, signed, replaced, BASIC.format(at));

    assertThat(before).isEqualTo(sdk.signature(request, signed, first, at));
    assertThat(after).isEqualTo(sdk.signature(request, signed, replaced, at)).isNotEqualTo(before);
  }

  private HttpRequestView randomRequest() {
    ImmutableListMultimap.Builder<String, String> headers = ImmutableListMultimap.builder();
    for (String name : NAMES) {
      int values = random.nextInt(4) == 0 ? 0 : 1 + (random.nextInt(5) == 0 ? 1 : 0);
      for (int v = 0; v < values; v++) {
        headers.put(name, pick(VALUES));
      }
    }
    byte[] body = ("{\"KeyId\":\"" + random.nextInt() + "\"}").getBytes(UTF_8);
    String method = random.nextInt(10) == 0 ? "GET" : "POST";
    return new HttpRequestView(method, pick(PATHS), pick(QUERIES), headers.build(), body);
  }

  private List<String> randomSignedHeaders() {
    List<String> signed = new ArrayList<>();
    for (String name : ImmutableSet.<String>builder().addAll(NAMES).add("x-absent").build()) {
      if (random.nextInt(3) > 0) {
        signed.add(random.nextInt(12) == 0 ? name.toUpperCase() : name);
      }
    }
    return signed;
  }

  private <T> T pick(List<T> values) {
    return values.get(random.nextInt(values.size()));
  }
}
