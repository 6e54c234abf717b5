package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.cache.CacheBuilder;
import com.google.common.cache.CacheLoader;
import com.google.common.cache.LoadingCache;
import com.google.common.hash.Hashing;
import java.net.URI;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.internal.signer.DefaultV4RequestSigner;
import software.amazon.awssdk.http.auth.aws.internal.signer.V4Properties;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;

/**
 * The AWS SDK's own SigV4 request signer, for {@link RequestSignerTest} to hold the server's to. It
 * is the internal {@code DefaultV4RequestSigner} rather than the public {@code AwsV4HttpSigner}, which
 * always adds and signs {@code x-amz-content-sha256}: this one signs exactly the headers it is given,
 * as a verifier must.
 */
final class SdkRequestSigner {
  /** Stands in for the URI's scheme and authority, which are not signed: the {@code host} header is. */
  private static final String UNSIGNED_ORIGIN = "https://unsigned.invalid";

  private final String region;
  private final String service;
  /**
   * The SDK takes the secret as a String (and keys its signing-key cache with it): one per credential,
   * kept while the credential is, rather than a fresh copy of the secret in every request's garbage.
   */
  private final LoadingCache<Credential, AwsCredentialsIdentity> identities = CacheBuilder.newBuilder()
      .weakKeys()
      .build(CacheLoader.from(credential -> AwsCredentialsIdentity.create(
          credential.accessKeyId(), credential.secretAccessKey().withChars(String::new))));

  SdkRequestSigner(String region, String service) {
    this.region = region;
    this.service = service;
  }

  /**
   * The hex signature of {@code request} over {@code signedHeaders} and its whole body, as signed at
   * {@code signedAt} with {@code credential}.
   *
   * @throws IllegalArgumentException if the request's method or target cannot be canonicalised; such
   *     a request carries no signature we would accept
   */
  String signature(HttpRequestView request, List<String> signedHeaders, Credential credential, Instant signedAt) {
    checkArgument(request.path().startsWith("/"), "not an origin-form request target");
    SdkHttpRequest.Builder http = SdkHttpRequest.builder()
        .method(SdkHttpMethod.fromValue(request.method()))
        .uri(URI.create(UNSIGNED_ORIGIN + request.path()
            + (request.rawQuery().isEmpty() ? "" : "?" + request.rawQuery())));
    for (String name : signedHeaders) {
      List<String> values = request.headers().get(name);
      if (!values.isEmpty()) {
        http.putHeader(name, values);
      }
    }
    V4Properties properties = V4Properties.builder()
        .credentials(identities.getUnchecked(credential))
        .credentialScope(
            new software.amazon.awssdk.http.auth.aws.internal.signer.CredentialScope(region, service, signedAt))
        .signingClock(Clock.fixed(signedAt, ZoneOffset.UTC))
        .doubleUrlEncode(true)
        .normalizePath(true)
        .build();
    String payloadHash = Hashing.sha256().hashBytes(request.body()).toString();
    return new DefaultV4RequestSigner(properties, payloadHash).sign(http).getSignature();
  }
}
