package dev.keyhold.server.authz;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.server.authz.KmsOperation.Authorization;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class KmsOperationTest {
  @Test
  void findsAnOperationByItsTargetName() {
    assertThat(KmsOperation.named("Encrypt")).contains(KmsOperation.Encrypt);
    assertThat(KmsOperation.named("GenerateDataKeyWithoutPlaintext").orElseThrow().keyAction())
        .isEqualTo("kms:GenerateDataKeyWithoutPlaintext");
    assertThat(KmsOperation.named("Sign")).isEmpty();
    assertThat(KmsOperation.named("encrypt")).isEmpty();
  }

  @Test
  void customKeyStoreOperationsAreAdministration() {
    assertThat(Arrays.stream(KmsOperation.values()).filter(op -> op.authorization() == Authorization.ADMINISTRATION))
        .containsExactlyInAnyOrder(
            KmsOperation.CreateCustomKeyStore,
            KmsOperation.DescribeCustomKeyStores,
            KmsOperation.UpdateCustomKeyStore,
            KmsOperation.ConnectCustomKeyStore,
            KmsOperation.DisconnectCustomKeyStore,
            KmsOperation.DeleteCustomKeyStore);
  }

  @Test
  void operationsOnNoKeyAreTheAccountsAndHaveNoKeyAction() {
    assertThat(Arrays.stream(KmsOperation.values()).filter(op -> op.authorization() == Authorization.ACCOUNT))
        .containsExactlyInAnyOrder(
            KmsOperation.CreateKey, KmsOperation.ListKeys, KmsOperation.ListAliases, KmsOperation.GenerateRandom,
            KmsOperation.ListRetirableGrants);
    assertThatThrownBy(KmsOperation.ListKeys::keyAction)
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("ListKeys uses no key");
  }

  @Test
  void reEncryptNeedsFromOnTheSourceKeyAndToOnTheDestination() {
    assertThat(KmsOperation.ReEncrypt.keyAction()).isEqualTo("kms:ReEncryptFrom");
    assertThat(KmsOperation.ReEncrypt.destinationKeyAction()).contains("kms:ReEncryptTo");
  }

  @Test
  void updateAliasNeedsItsActionOnTheOldAndTheNewTarget() {
    assertThat(KmsOperation.UpdateAlias.keyAction()).isEqualTo("kms:UpdateAlias");
    assertThat(KmsOperation.UpdateAlias.destinationKeyAction()).contains("kms:UpdateAlias");
  }

  @Test
  void everyOtherKeyOperationNeedsTheActionOfItsOwnName() {
    Arrays.stream(KmsOperation.values())
        .filter(op -> op.authorization() == Authorization.KEY_POLICY)
        .filter(op -> op != KmsOperation.ReEncrypt && op != KmsOperation.UpdateAlias)
        .forEach(op -> {
          assertThat(op.keyAction()).isEqualTo("kms:" + op.name());
          assertThat(op.destinationKeyAction()).isEmpty();
        });
  }
}
