package dev.keyhold.server.quota;

import static dev.keyhold.server.authz.KmsOperation.CreateKey;
import static dev.keyhold.server.authz.KmsOperation.Decrypt;
import static dev.keyhold.server.authz.KmsOperation.DescribeKey;
import static dev.keyhold.server.authz.KmsOperation.Encrypt;
import static dev.keyhold.server.authz.KmsOperation.GenerateRandom;
import static dev.keyhold.server.authz.KmsOperation.GetParametersForImport;
import static dev.keyhold.server.authz.KmsOperation.ListKeys;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.server.WireException;
import dev.keyhold.server.authz.KmsOperation;
import org.junit.jupiter.api.Test;

class RequestQuotasTest {
  private final FakeTicker ticker = new FakeTicker();

  @Test
  void theCryptographicOperationsShareTheAccountsRate() {
    RequestQuotas quotas = RequestQuotas.of(QuotaConfig.unlimited().withCryptographicPerAccount(2), ticker);

    quotas.admit(Encrypt, "AKIDALICE");
    quotas.admit(Decrypt, "AKIDBOB");
    assertThrottled(() -> quotas.admit(GenerateRandom, "AKIDALICE"));
    quotas.admit(DescribeKey, "AKIDALICE"); // not cryptographic: its own rate, unlimited here
  }

  @Test
  void everyOtherOperationHasItsOwnRate() {
    RequestQuotas quotas = RequestQuotas.of(QuotaConfig.unlimited().withOperation(CreateKey, 1), ticker);

    quotas.admit(CreateKey, "AKIDALICE");
    assertThrottled(() -> quotas.admit(CreateKey, "AKIDBOB"));
    quotas.admit(ListKeys, "AKIDALICE");
    quotas.admit(Encrypt, "AKIDALICE");
  }

  @Test
  void eachAccessKeyHasItsOwnRateOnTop() {
    RequestQuotas quotas = RequestQuotas.of(QuotaConfig.unlimited().withPerCredential(1), ticker);

    quotas.admit(Encrypt, "AKIDALICE");
    assertThrottled(() -> quotas.admit(DescribeKey, "AKIDALICE"));
    quotas.admit(Encrypt, "AKIDBOB");
  }

  @Test
  void eachKeyStoreHasItsOwnRate() {
    RequestQuotas quotas = RequestQuotas.of(QuotaConfig.unlimited().withPerKeyStore(1), ticker);

    quotas.admitKeyStore("cks-1");
    assertThrottled(() -> quotas.admitKeyStore("cks-1"));
    quotas.admitKeyStore("cks-2");
  }

  @Test
  void awsQuotasAreAwsQuotas() {
    QuotaConfig aws = QuotaConfig.aws();

    assertThat(aws.rateOf(Encrypt)).isEqualTo(10_000);
    assertThat(aws.perKeyStore()).isEqualTo(1_800);
    assertThat(aws.rateOf(CreateKey)).isEqualTo(5);
    assertThat(aws.rateOf(DescribeKey)).isEqualTo(2_000);
    assertThat(aws.rateOf(GetParametersForImport)).isEqualTo(0.25);
    assertThat(aws.perCredential()).isEqualTo(QuotaConfig.UNLIMITED);
    for (KmsOperation operation : KmsOperation.values()) {
      assertThat(aws.rateOf(operation)).as("%s", operation).isLessThan(QuotaConfig.UNLIMITED);
    }
  }

  @Test
  void aCryptographicOperationHasNoRateOfItsOwn() {
    assertThatThrownBy(() -> QuotaConfig.unlimited().withOperation(Decrypt, 100))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Decrypt shares the account's cryptographic rate");
  }

  private static void assertThrottled(Runnable call) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(WireException.class,
            e -> assertThat(e.type()).isEqualTo(WireException.Type.ThrottlingException))
        .hasMessage("You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.");
  }
}
