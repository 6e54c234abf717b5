package dev.keyhold.bench;

import dev.keyhold.app.LocalKeyhold;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.quota.QuotaConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.security.SecureRandom;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.KmsClientBuilder;
import software.amazon.awssdk.services.kms.model.CreateKeyRequest;

/**
 * Keyhold as {@code bin/keyhold} serves it ({@link LocalKeyhold}: a 2-HSM SoftHSM2 cluster, its key
 * store connected and made the default, SigV4, key policies, the audit log), inside the benchmark's
 * JVM on a free port of 127.0.0.1, with AWS SDK clients that call it as the account root. Shared by
 * {@link HttpKmsBenchmark}, {@link OverloadBenchmark} and {@code keyhold-bench}.
 *
 * <p>SoftHSM2 reads {@code SOFTHSM2_CONF} once per process: it must name
 * {@code home/softhsm/softhsm2.conf} before the first PKCS#11 call.
 */
public final class EmbeddedKeyhold implements AutoCloseable {
  public static final Account ACCOUNT = new Account("111122223333", "us-east-1");

  private final LocalKeyhold service;

  private EmbeddedKeyhold(LocalKeyhold service) {
    this.service = service;
  }

  /** Provisions (or reopens) the Keyhold in {@code home} and serves it, telling {@code progress} what it does. */
  public static EmbeddedKeyhold start(Path home, Path softHsmLibrary, PrintStream progress)
      throws IOException, InterruptedException {
    return start(home, softHsmLibrary, progress, QuotaConfig.unlimited());
  }

  /** As {@link #start(Path, Path, PrintStream)}, enforcing {@code quotas} where {@code bin/keyhold} sets none. */
  public static EmbeddedKeyhold start(Path home, Path softHsmLibrary, PrintStream progress, QuotaConfig quotas)
      throws IOException, InterruptedException {
    return new EmbeddedKeyhold(LocalKeyhold.start(home, softHsmLibrary, ACCOUNT, progress,
        builder -> builder.host("127.0.0.1").port(0).quotas(quotas)));
  }

  /** The service's own crypto operations: no HTTP, SigV4, policy or audit. */
  public KmsCrypto crypto() {
    return service.keyhold().crypto();
  }

  public URI uri() {
    return service.server().uri();
  }

  /** The account root's credential, allowed everything its account may. */
  public Credential root() {
    return service.root();
  }

  /**
   * A new access key of the account root, honoured at once: it signs as the root does, but counts
   * against a per-credential quota of its own.
   */
  public Credential addAccessKey() {
    Credential key = Credential.generate(root().principalArn(), new SecureRandom());
    service.credentials().add(key);
    return key;
  }

  /**
   * A client over {@code http} that signs as the account root and never retries, so that a failed
   * call ends a run instead of hiding in a figure.
   */
  public KmsClient client(SdkHttpClient http) {
    return client(root(), http);
  }

  /**
   * As {@link #client(SdkHttpClient)}, with {@code interceptor} shown every request and answer: to
   * capture a request as signed and sent, say.
   */
  public KmsClient client(SdkHttpClient http, ExecutionInterceptor interceptor) {
    return builder(uri(), ACCOUNT.region(), signingAs(root()), http)
        .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry())
            .addExecutionInterceptor(interceptor))
        .build();
  }

  /** A client over {@code http} that signs with {@code caller}'s access key and never retries. */
  public KmsClient client(Credential caller, SdkHttpClient http) {
    return client(uri(), ACCOUNT.region(), signingAs(caller), http);
  }

  /**
   * A client over {@code http} that signs with {@code caller}'s access key and retries as the AWS SDK
   * does by default ({@link software.amazon.awssdk.core.retry.RetryMode#defaultRetryMode()}), as an
   * application's client would.
   */
  public KmsClient retryingClient(Credential caller, SdkHttpClient http) {
    return builder(uri(), ACCOUNT.region(), signingAs(caller), http).build();
  }

  /** A client of any Keyhold (or AWS KMS) at {@code endpoint}, signing with {@code credentials}, never retrying. */
  public static KmsClient client(URI endpoint, String region, AwsCredentialsProvider credentials,
      SdkHttpClient http) {
    return builder(endpoint, region, credentials, http)
        .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
        .build();
  }

  private static KmsClientBuilder builder(URI endpoint, String region, AwsCredentialsProvider credentials,
      SdkHttpClient http) {
    return KmsClient.builder()
        .endpointOverride(endpoint)
        .region(Region.of(region))
        .credentialsProvider(credentials)
        .httpClient(http);
  }

  private static AwsCredentialsProvider signingAs(Credential caller) {
    return StaticCredentialsProvider.create(
        AwsBasicCredentials.create(caller.accessKeyId(), caller.secretAccessKey().withChars(String::new)));
  }

  /** An HTTP client whose pool has a connection for each of {@code threads} callers, so none queues for one. */
  public static SdkHttpClient httpClient(int threads) {
    return Apache5HttpClient.builder().maxConnections(threads).build();
  }

  /** Creates a KMS key in the default (HSM-backed) key store over HTTP; returns its id. */
  public static String createKey(KmsClient client, String description) {
    return client.createKey(CreateKeyRequest.builder().description(description).build()).keyMetadata().keyId();
  }

  @Override
  public void close() {
    service.close();
  }
}
