package dev.keyhold.bench;

import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.KeyholdServer;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.CredentialStore;
import dev.keyhold.server.auth.SigV4Authenticator;
import dev.keyhold.server.authz.KeyPolicyAuthorizer;
import dev.keyhold.server.local.LocalBackend;
import dev.keyhold.server.ops.AuditLog;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateKeyRequest;

/**
 * Keyhold as {@code bin/keyhold} serves it, inside the benchmark's JVM: the embedded default service
 * ({@link LocalBackend}: a 2-HSM SoftHSM2 cluster, its key store connected and made the default,
 * replication running) behind {@link KeyholdServer} on a free port of 127.0.0.1, with SigV4 over a
 * fresh credential of the account root, the default key policy and the audit log. Shared by
 * {@link HttpKmsBenchmark} and {@code keyhold-bench}.
 *
 * <p>SoftHSM2 reads {@code SOFTHSM2_CONF} once per process: it must name
 * {@code home/softhsm/softhsm2.conf} before the first PKCS#11 call.
 */
public final class EmbeddedKeyhold implements AutoCloseable {
  public static final Account ACCOUNT = new Account("111122223333", "us-east-1");

  private final LocalBackend local;
  private final AuditLog audit;
  private final KeyholdServer server;
  private final Credential root;

  private EmbeddedKeyhold(LocalBackend local, AuditLog audit, KeyholdServer server, Credential root) {
    this.local = local;
    this.audit = audit;
    this.server = server;
    this.root = root;
  }

  /** Provisions (or reopens) the Keyhold in {@code home} and serves it, telling {@code progress} what it does. */
  public static EmbeddedKeyhold start(Path home, Path softHsmLibrary, PrintStream progress)
      throws IOException, InterruptedException {
    LocalBackend local = LocalBackend.open(home, softHsmLibrary, ACCOUNT, progress);
    AuditLog audit = null;
    try {
      audit = AuditLog.toFile(home.resolve("audit.log"));
      CredentialStore credentials = CredentialStore.load(home.resolve("credentials.json"),
          MasterKey.loadOrCreate(home.resolve("data/master.key")));
      Credential root = Credential.generate("arn:aws:iam::" + ACCOUNT.accountId() + ":root", true, new SecureRandom());
      credentials.add(root);
      KeyholdServer server = KeyholdServer.builder(local.backend(),
              new SigV4Authenticator(credentials, ACCOUNT.region(), Clock.systemUTC()), new KeyPolicyAuthorizer())
          .host("127.0.0.1")
          .port(0)
          .observer(audit)
          .start();
      return new EmbeddedKeyhold(local, audit, server, root);
    } catch (IOException | RuntimeException e) {
      if (audit != null) {
        audit.close();
      }
      local.close();
      throw e;
    }
  }

  /** The service's own crypto operations: no HTTP, SigV4, policy or audit. */
  public KmsCrypto crypto() {
    return local.backend().crypto();
  }

  public URI uri() {
    return server.uri();
  }

  /**
   * A client over {@code http} that signs as the account root and never retries, so that a failed
   * call ends a run instead of hiding in a figure.
   */
  public KmsClient client(SdkHttpClient http) {
    return client(uri(), ACCOUNT.region(), StaticCredentialsProvider.create(
        AwsBasicCredentials.create(root.accessKeyId(), root.secretAccessKey().withChars(String::new))), http);
  }

  /** A client of any Keyhold (or AWS KMS) at {@code endpoint}, signing with {@code credentials}, never retrying. */
  public static KmsClient client(URI endpoint, String region, AwsCredentialsProvider credentials,
      SdkHttpClient http) {
    return KmsClient.builder()
        .endpointOverride(endpoint)
        .region(Region.of(region))
        .credentialsProvider(credentials)
        .httpClient(http)
        .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
        .build();
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
    try (LocalBackend backend = local; AuditLog log = audit) {
      server.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close the audit log", e);
    }
  }
}
