package dev.keyhold.server.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.base.Ticker;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.policy.AccountPrincipal;
import dev.keyhold.kms.policy.Authorizer;
import dev.keyhold.kms.policy.IdentityPolicies;
import dev.keyhold.server.auth.Caller;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.quota.QuotaConfig;
import dev.keyhold.server.quota.RequestQuotas;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What KeyAccess decides before it needs a key: who administers, and failing closed. */
class KeyAccessTest {
  private static final Account ACCOUNT = new Account("111122223333", "us-east-1");
  private static final Caller ALICE =
      new Caller("AKIAALICE", "arn:aws:iam::111122223333:user/alice", "111122223333");
  private static final Caller ROOT = new Caller("AKIAROOT", "arn:aws:iam::111122223333:root", "111122223333");

  @TempDir
  Path data;
  private JdbcMetadataStore metadata;
  private IdentityPolicies identityPolicies;

  @BeforeEach
  void openMetadata() {
    metadata = JdbcMetadataStore.embedded(data);
    identityPolicies = new IdentityPolicies(metadata);
  }

  @AfterEach
  void closeMetadata() {
    metadata.close();
  }

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
  void keyStoreOperationsAreForTheRootAndWhomTheAdministratorPolicyAllows() {
    for (AccountPrincipal accountPrincipal : AccountPrincipal.values()) {
      assertThatThrownBy(() -> access(KmsOperation.ConnectCustomKeyStore, ALICE, accountPrincipal).allowWithoutKey())
          .isInstanceOfSatisfying(KmsException.class,
              e -> assertThat(e.type()).isEqualTo(KmsErrorType.AccessDeniedException))
          .hasMessage("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: "
              + "kms:ConnectCustomKeyStore on resource: arn:aws:kms:us-east-1:111122223333:* because no "
              + "identity-based policy allows the kms:ConnectCustomKeyStore action");
      access(KmsOperation.ConnectCustomKeyStore, ROOT, accountPrincipal).allowWithoutKey();
    }
    identityPolicies.put(ALICE.principalArn(), IdentityPolicies.ADMINISTRATOR, IdentityPolicies.ADMINISTRATOR_DOCUMENT);
    access(KmsOperation.ConnectCustomKeyStore, ALICE, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES).allowWithoutKey();
    assertThatThrownBy(() -> access(KmsOperation.CreateKey, ALICE, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES)
        .allowWithoutKey()).hasMessageEndingWith("because no identity-based policy allows the kms:CreateKey action");
  }

  @Test
  void operationsOnNoKeyAreForEveryCallerOnlyWhenTheAccountMeansEveryCaller() {
    access(KmsOperation.CreateKey, ALICE, AccountPrincipal.MEANS_EVERY_CALLER).allowWithoutKey();
    assertThatThrownBy(() -> access(KmsOperation.ListKeys, ALICE, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES)
        .allowWithoutKey()).hasMessageEndingWith("because no identity-based policy allows the kms:ListKeys action");
    access(KmsOperation.ListKeys, ROOT, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES).allowWithoutKey();
  }

  private KeyAccess access(KmsOperation operation, Caller caller) {
    return access(operation, caller, AccountPrincipal.DELEGATES_TO_IDENTITY_POLICIES);
  }

  private KeyAccess access(KmsOperation operation, Caller caller, AccountPrincipal accountPrincipal) {
    // No key is resolved in these tests, so no key resolution is needed.
    return new KeyAccess(operation, caller, ACCOUNT, null, new Authorizer(identityPolicies, accountPrincipal),
        RequestQuotas.of(QuotaConfig.unlimited(), Ticker.systemTicker()));
  }
}
