package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.ops.RequestOutcome;
import dev.keyhold.server.quota.QuotaConfig;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * Requests over a quota are answered as AWS answers them, HTTP 400 ThrottlingException, which the AWS
 * SDK retries; each quota counts what AWS's counts, and a throttled caller takes nobody else's rate.
 */
class ThrottlingTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final String MESSAGE =
      "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";
  private static final SdkBytes PLAINTEXT = SdkBytes.fromString("attack at dawn", UTF_8);

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static String keyId;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, 0);
    try (KmsClient admin = keyhold.client(keyhold.admin)) {
      keyId = admin.createKey(r -> r.description("throttled")).keyMetadata().keyId();
    }
  }

  @AfterAll
  static void stop() {
    keyhold.close();
  }

  @Test
  void theSdkRetriesAThrottledCallUntilItSucceeds() {
    try (KeyholdServer server = serve(quotas -> quotas.withCryptographicPerAccount(1));
        KmsClient once = noRetries(keyhold.alice, server);
        KmsClient retrying = TestKeyhold.clientOf(keyhold.admin, server.uri(), UrlConnectionHttpClient.create())
            .build()) {
      once.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT));
      AwsServiceException throttled = throttled(() -> once.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)));
      assertThat(throttled.statusCode()).isEqualTo(400);
      assertThat(throttled.awsErrorDetails().errorMessage()).isEqualTo(MESSAGE);
      assertThat(throttled.isThrottlingException()).isTrue();
      long adminThrottledBefore = throttledCount(keyhold.admin.principalArn());

      // The bucket is empty: the first attempt is throttled, a retry after the SDK's backoff is served.
      assertThat(retrying.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)).keyId()).endsWith(keyId);
      assertThat(throttledCount(keyhold.admin.principalArn())).isGreaterThan(adminThrottledBefore);
    }
  }

  @Test
  void aThrottledCredentialLeavesTheOthersServed() {
    try (KeyholdServer server = serve(quotas -> quotas.withPerCredential(2));
        KmsClient alice = noRetries(keyhold.alice, server);
        KmsClient admin = noRetries(keyhold.admin, server)) {
      long aliceThrottledBefore = throttledCount(keyhold.alice.principalArn());
      long adminThrottledBefore = throttledCount(keyhold.admin.principalArn());
      int aliceThrottled = 0;
      for (int i = 0; i < 10; i++) {
        try {
          alice.generateRandom(r -> r.numberOfBytes(16));
        } catch (AwsServiceException e) {
          assertThat(e.awsErrorDetails().errorCode()).isEqualTo("ThrottlingException");
          aliceThrottled++;
        }
      }

      assertThat(aliceThrottled).isPositive();
      for (int i = 0; i < 2; i++) {
        assertThat(admin.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)).keyId()).endsWith(keyId);
      }
      assertThat(throttledCount(keyhold.alice.principalArn()) - aliceThrottledBefore).isEqualTo(aliceThrottled);
      assertThat(throttledCount(keyhold.admin.principalArn())).isEqualTo(adminThrottledBefore);
    }
  }

  @Test
  void aKeyStoreQuotaCountsTheCryptographicCallsOnItsKeys() {
    SdkBytes blob;
    try (KeyholdServer server = serve(quotas -> quotas.withPerKeyStore(1));
        KmsClient admin = noRetries(keyhold.admin, server)) {
      // Neither a management operation nor randomness from outside the store draws on it.
      admin.describeKey(r -> r.keyId(keyId));
      admin.generateRandom(r -> r.numberOfBytes(16));
      blob = admin.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT)).ciphertextBlob();
      throttled(() -> admin.decrypt(r -> r.ciphertextBlob(blob)));
    }
    try (KeyholdServer server = serve(quotas -> quotas.withPerKeyStore(1));
        KmsClient admin = noRetries(keyhold.admin, server)) {
      admin.generateRandom(r -> r.numberOfBytes(16));
      admin.generateRandom(r -> r.numberOfBytes(16).customKeyStoreId(keyhold.storeId));
      throttled(() -> admin.generateDataKey(r -> r.keyId(keyId).numberOfBytes(32)));
    }
  }

  @Test
  void anOperationHasItsOwnQuota() {
    try (KeyholdServer server = serve(quotas -> quotas.withOperation(KmsOperation.DescribeKey, 1));
        KmsClient admin = noRetries(keyhold.admin, server)) {
      admin.describeKey(r -> r.keyId(keyId));
      throttled(() -> admin.describeKey(r -> r.keyId(keyId)));

      admin.encrypt(r -> r.keyId(keyId).plaintext(PLAINTEXT));
      admin.listKeys();
    }
  }

  private static KeyholdServer serve(UnaryOperator<QuotaConfig> quotas) {
    return keyhold.serve(builder -> builder.quotas(quotas.apply(QuotaConfig.unlimited())));
  }

  private static KmsClient noRetries(Credential caller, KeyholdServer server) {
    return TestKeyhold.clientOf(caller, server.uri(), UrlConnectionHttpClient.create())
        .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
        .build();
  }

  private static AwsServiceException throttled(Runnable call) {
    AwsServiceException e = catchThrowableOfType(AwsServiceException.class, call::run);
    assertThat(e).as("throttled").isNotNull();
    assertThat(e.awsErrorDetails().errorCode()).isEqualTo("ThrottlingException");
    return e;
  }

  private static long throttledCount(String principalArn) {
    return keyhold.outcomes.stream()
        .filter(outcome -> outcome.principalArn().equals(Optional.of(principalArn)))
        .map(RequestOutcome::errorType)
        .filter(type -> type.equals(Optional.of("ThrottlingException")))
        .count();
  }
}
