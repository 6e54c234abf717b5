package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.US_ASCII;

import com.google.common.base.Splitter;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.format.ResolverStyle;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;

/**
 * Verifies AWS Signature Version 4, as the KMS endpoint of one region does: header-based signing
 * ({@code Authorization: AWS4-HMAC-SHA256 ...}) for service {@code kms}, a request date within five
 * minutes of the clock, and an access key the {@link Credentials} hold, active.
 *
 * <p>The checks follow AWS's, in its order, and fail with its errors and wording. Keyhold issues no
 * session tokens, so a request that carries one is refused as an unrecognised client, and it does not
 * take query-string (presigned) signatures, which no KMS client sends. The body is always signed: a
 * client that sends {@code x-amz-content-sha256: UNSIGNED-PAYLOAD} fails verification.
 */
public final class SigV4Authenticator implements RequestAuthenticator {
  static final String SERVICE = "kms";
  private static final Duration MAX_SKEW = Duration.ofMinutes(5);
  private static final DateTimeFormatter BASIC_FORMAT =
      DateTimeFormatter.ofPattern("uuuuMMdd'T'HHmmss'Z'").withResolverStyle(ResolverStyle.STRICT);
  private static final Splitter QUERY_PARAMETERS = Splitter.on('&');
  private static final String SIGNATURE_MISMATCH = "The request signature we calculated does not match the "
      + "signature you provided. Check your AWS Secret Access Key and signing method. "
      + "Consult the service documentation for details.";

  private final Credentials credentials;
  private final String region;
  private final Clock clock;
  private final RequestSigner signer;
  // Requests signed in the same second carry the same date; parsing one costs microseconds.
  private volatile ParsedDate lastDate = new ParsedDate("", Instant.EPOCH);

  /**
   * @param region the region clients sign for, e.g. {@code us-east-1}
   * @param clock what "now" is when judging a request's date
   */
  public SigV4Authenticator(Credentials credentials, String region, Clock clock) {
    this.credentials = checkNotNull(credentials, "credentials");
    this.region = checkNotNull(region, "region");
    this.clock = checkNotNull(clock, "clock");
    checkArgument(!region.isEmpty(), "region must not be empty");
    this.signer = new RequestSigner(region, SERVICE);
  }

  @Override
  public Caller authenticate(HttpRequestView request) {
    checkNotNull(request, "request");
    Optional<String> header = firstHeader(request, "authorization");
    if (header.isEmpty()) {
      if (QUERY_PARAMETERS.splitToStream(request.rawQuery()).anyMatch(p -> p.startsWith("X-Amz-Algorithm="))) {
        throw AuthErrors.incompleteSignature(
            "Keyhold takes SigV4 in the Authorization header only, not in the query string (X-Amz-Algorithm).");
      }
      throw AuthErrors.missingAuthenticationToken();
    }
    Optional<String> date = firstHeader(request, "x-amz-date").or(() -> firstHeader(request, "date"));
    AuthorizationHeader authorization = AuthorizationHeader.parse(header.get(), date.isPresent());
    Instant signedAt = parseDate(date.get());
    checkCurrent(signedAt);
    if (!authorization.signs("host")) {
      throw AuthErrors.invalidSignature(
          "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    }
    CredentialScope scope = CredentialScope.parse(authorization.credential());
    scope.check(region, SERVICE, date.get());
    Credential credential = credentials.lookup(scope.accessKeyId()).orElseThrow(AuthErrors::unrecognizedClient);
    if (!signatureMatches(request, authorization, credential, date.get())) {
      throw AuthErrors.invalidSignature(SIGNATURE_MISMATCH);
    }
    // AWS checks the token last, once the signature holds.
    if (firstHeader(request, "x-amz-security-token").isPresent()) {
      throw AuthErrors.unrecognizedClient();
    }
    return credential.caller();
  }

  private boolean signatureMatches(
      HttpRequestView request, AuthorizationHeader authorization, Credential credential, String amzDate) {
    String expected;
    try {
      expected = signer.signature(request, authorization.signedHeaders(), credential, amzDate);
    } catch (IllegalArgumentException e) {
      return false; // a request that cannot be canonicalised, so no SDK signed it
    }
    return MessageDigest.isEqual(expected.getBytes(US_ASCII), authorization.signature().getBytes(US_ASCII));
  }

  private static Optional<String> firstHeader(HttpRequestView request, String name) {
    List<String> values = request.headers().get(name);
    return values.isEmpty() ? Optional.empty() : Optional.of(values.get(0));
  }

  private Instant parseDate(String date) {
    ParsedDate last = lastDate;
    if (last.text().equals(date)) {
      return last.instant();
    }
    try {
      Instant parsed = LocalDateTime.parse(date, BASIC_FORMAT).toInstant(ZoneOffset.UTC);
      lastDate = new ParsedDate(date, parsed);
      return parsed;
    } catch (DateTimeParseException e) {
      throw AuthErrors.incompleteSignature("Date must be in ISO-8601 'basic format'. Got '" + date
          + "'. See http://en.wikipedia.org/wiki/ISO_8601");
    }
  }

  private record ParsedDate(String text, Instant instant) {}

  private void checkCurrent(Instant signedAt) {
    Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
    if (signedAt.isBefore(now.minus(MAX_SKEW))) {
      throw AuthErrors.invalidSignature("Signature expired: " + format(signedAt) + " is now earlier than "
          + format(now.minus(MAX_SKEW)) + " (" + format(now) + " - " + MAX_SKEW.toMinutes() + " min.)");
    }
    if (signedAt.isAfter(now.plus(MAX_SKEW))) {
      throw AuthErrors.invalidSignature("Signature not yet current: " + format(signedAt) + " is still later than "
          + format(now.plus(MAX_SKEW)) + " (" + format(now) + " + " + MAX_SKEW.toMinutes() + " min.)");
    }
  }

  private static String format(Instant instant) {
    return BASIC_FORMAT.format(LocalDateTime.ofInstant(instant, ZoneOffset.UTC));
  }
}
