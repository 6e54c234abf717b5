package dev.keyhold.server.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.base.Ticker;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.policy.KeyPolicyAuthorizer;
import dev.keyhold.server.auth.Caller;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.quota.QuotaConfig;
import dev.keyhold.server.quota.RequestQuotas;
import org.junit.jupiter.api.Test;

/** What KeyAccess decides before it needs a key: who administers, and failing closed. */
class KeyAccessTest {
  private static final Account ACCOUNT = new Account("111122223333", "us-east-1");
  private static final Caller ALICE =
      new Caller("AKIAALICE", "arn:aws:iam::111122223333:user/alice", "111122223333", false);

  @Test
  void anOperationOnKeysThatAllowedNoneFailsClosed() {
    assertThatThrownBy(() -> access(KmsOperation.Encrypt, ALICE).checkAuthorized())
        .isInstanceOf(IllegalStateException.class).hasMessage("Encrypt succeeded without authorizing its key");
  }

  @Test
  void anOperationThatUsesNoKeyNeedsNone() {
    access(KmsOperation.GenerateRandom, ALICE).checkAuthorized();
    access(KmsOperation.CreateCustomKeyStore, ALICE).checkAuthorized();
  }

  @Test
  void keyStoreOperationsAreForAdministrators() {
    assertThatThrownBy(() -> access(KmsOperation.ConnectCustomKeyStore, ALICE).checkAdministrator())
        .isInstanceOfSatisfying(KmsException.class,
            e -> assertThat(e.type()).isEqualTo(KmsErrorType.AccessDeniedException))
        .hasMessage("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: "
            + "kms:ConnectCustomKeyStore on resource: arn:aws:kms:us-east-1:111122223333:* because no "
            + "identity-based policy allows the kms:ConnectCustomKeyStore action");
    Caller root = new Caller("AKIAROOT", "arn:aws:iam::111122223333:root", "111122223333", true);
    access(KmsOperation.ConnectCustomKeyStore, root).checkAdministrator();
  }

  private static KeyAccess access(KmsOperation operation, Caller caller) {
    // No key is resolved in these tests, so no key resolution is needed.
    return new KeyAccess(operation, caller, ACCOUNT, null, new KeyPolicyAuthorizer(),
        RequestQuotas.of(QuotaConfig.unlimited(), Ticker.systemTicker()));
  }
}
