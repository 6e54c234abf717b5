package dev.keyhold.kms.keystore;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.PinLockedException;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.shims.LockoutShim;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * USER_LOCKED_OUT against real SoftHSM2 tokens reached through {@link LockoutShim}, which locks
 * kmsuser after 5 consecutive wrong passwords as AWS CloudHSM does (SoftHSM2 itself never locks).
 */
@DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
    disabledReason = "the lockout shim over SoftHSM2 tokens; the stand-in locks users out itself (CloudHsmStandInTest)")
class UserLockedOutTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  /** AWS CloudHSM's limit, and the shim's. */
  private static final int FAILED_LOGINS_BEFORE_LOCKOUT = 5;
  private static final Pin WRONG_PASSWORD = Pin.of("not-the-password".toCharArray());

  @TempDir Path data;
  private KeyStoreFixture fixture;

  @BeforeEach
  void open() {
    fixture = new KeyStoreFixture(softhsm, data);
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void eachFailedConnectCostsOneLoginUntilKmsuserLocksAndThenTheRightPasswordCannotOpenIt() throws Exception {
    Cluster cluster = throughShim(fixture.newCluster(2));
    CustomKeyStores keyStores = fixture.open();
    String id = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest(
        "locking", cluster.clusterId(), cluster.trustAnchor().pem(), WRONG_PASSWORD, null));

    // Without a rotation under way the store knows one password, so a connect never guesses: one
    // failed login per attempt, and the 6th attempt meets the lock.
    for (int attempt = 1; attempt <= FAILED_LOGINS_BEFORE_LOCKOUT; attempt++) {
      assertThat(fixture.connectAndFail(id)).as("connect %d", attempt).isEqualTo(ConnectionErrorCode.INVALID_CREDENTIALS);
      keyStores.disconnectCustomKeyStore(id);
    }
    assertThat(fixture.connectAndFail(id)).isEqualTo(ConnectionErrorCode.USER_LOCKED_OUT);

    // The operator's update is not enough, as AWS documents: the password must be reset in the cluster.
    keyStores.disconnectCustomKeyStore(id);
    keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(id, null, fixture.kmsuserPin(), null));
    assertThat(fixture.connectAndFail(id)).as("the right password while locked")
        .isEqualTo(ConnectionErrorCode.USER_LOCKED_OUT);
    keyStores.disconnectCustomKeyStore(id);

    // A connect stops at the first HSM that refuses, so every failed login fell on the first one.
    assertThat(wrongLoginsBeforeLockout(cluster.hsms().get(0))).isZero();
    assertThat(wrongLoginsBeforeLockout(cluster.hsms().get(1))).as("the HSM no connect reached")
        .isEqualTo(FAILED_LOGINS_BEFORE_LOCKOUT);
  }

  /** {@code cluster} with every HSM reached through the shim: same tokens, lockout added. */
  private Cluster throughShim(Cluster cluster) throws Exception {
    Path shim = LockoutShim.library(SoftHsmClusterExtension.modulePath());
    Cluster shimmed = cluster;
    for (int i = 0; i < cluster.hsms().size(); i++) {
      Hsm hsm = cluster.hsms().get(i);
      shimmed = fixture.withHsm(shimmed, i,
          Hsm.of(hsm.hsmId(), shim, hsm.tokenLabel(), hsm.profile(), hsm.state()));
    }
    return shimmed;
  }

  /** How many wrong logins {@code hsm} still refuses as wrong before it locks; this locks it. */
  private static int wrongLoginsBeforeLockout(Hsm hsm) {
    try (Pkcs11Module module = Pkcs11Module.load(hsm.module())) {
      for (int refused = 0; refused <= FAILED_LOGINS_BEFORE_LOCKOUT; refused++) {
        try {
          Token.login(module, hsm.tokenLabel(), hsm.profile(), WRONG_PASSWORD, SessionPoolConfig.defaults()).close();
          throw new AssertionError(hsm.hsmId() + " took the wrong password");
        } catch (BadCredentialsException e) {
          // still counting
        } catch (PinLockedException e) {
          return refused;
        }
      }
    }
    throw new AssertionError(hsm.hsmId() + " never locked");
  }
}
