package dev.keyhold.kms.keystore;

import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreInvalidStateException;
import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.xipki.pkcs11.wrapper.PKCS11Constants;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;

/** Connect and Disconnect against real SoftHSM2 clusters: logins, rotation, every reachable error code. */
class KeyStoreConnectionTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

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
  @DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
      disabledReason = "logs in to each HSM's SoftHSM2 token by its label; CloudHsmProfileTest shows the rotation through the CLI")
  void connectsStaysLoggedInAndRotatesTheKmsuserPassword() throws Exception {
    Cluster cluster = fixture.newCluster(2);
    CustomKeyStores keyStores = fixture.open();
    String id = keyStores.createCustomKeyStore(fixture.createRequest("rotating", cluster));

    keyStores.connectCustomKeyStore(id);

    assertThat(fixture.awaitSettled(id).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    ConnectedStore logins = fixture.connections.connected(id).orElseThrow();
    assertThat(logins.tokens()).hasSize(2);
    for (Token token : logins.tokens().values()) {
      assertThat(token.generateRandom(16)).hasSize(16);
    }
    keyStores.disconnectCustomKeyStore(id);
    assertThat(fixture.describe(id).connectionState()).isEqualTo(ConnectionState.DISCONNECTED);
    assertThat(fixture.connections.connected(id)).isEmpty();
    // Logged out now (PKCS#11 login state is per process, so this check needs the store disconnected).
    for (Hsm hsm : cluster.hsms()) {
      assertThatThrownBy(() -> login(hsm, fixture.kmsuserPin()))
          .as("the password the store was created with no longer opens %s", hsm.hsmId())
          .isInstanceOf(BadCredentialsException.class);
    }

    keyStores.connectCustomKeyStore(id);
    assertThat(fixture.awaitSettled(id).connectionState()).as("the rotated password is known")
        .isEqualTo(ConnectionState.CONNECTED);
  }

  @Test
  void connectIsANoOpWhenConnectedAndFailedNeedsADisconnect() throws Exception {
    Cluster cluster = fixture.newCluster(2);
    CustomKeyStores keyStores = fixture.open();
    String id = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest("wrong", cluster.clusterId(),
        cluster.trustAnchor().pem(), Pin.of("not-the-password".toCharArray()), null));

    keyStores.connectCustomKeyStore(id);
    CustomKeyStoresListEntry failed = fixture.awaitSettled(id);
    assertThat(failed.connectionState()).isEqualTo(ConnectionState.FAILED);
    assertThat(failed.connectionErrorCode()).contains(ConnectionErrorCode.INVALID_CREDENTIALS);
    assertError(() -> keyStores.connectCustomKeyStore(id), CustomKeyStoreInvalidStateException);

    keyStores.disconnectCustomKeyStore(id);
    keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(id, null, fixture.kmsuserPin(), null));
    keyStores.connectCustomKeyStore(id);
    assertThat(fixture.awaitSettled(id).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    keyStores.connectCustomKeyStore(id);
    assertThat(fixture.describe(id).connectionState()).isEqualTo(ConnectionState.CONNECTED);
  }

  @Test
  @DisabledIfSystemProperty(named = "keyhold.test.clusters", matches = "cloudhsm",
      disabledReason = "makes each error with a SoftHSM2 token per HSM (a token without kmsuser, an SO session on it)")
  void eachReachableConnectionErrorCode() throws Exception {
    Cluster missing = fixture.newCluster(2);
    Cluster inactive = fixture.newCluster(2);
    Cluster noUser = fixture.newCluster(2);
    Cluster unreachable = fixture.newCluster(2);
    Cluster occupied = fixture.newCluster(2);
    CustomKeyStores keyStores = fixture.open();
    String missingId = keyStores.createCustomKeyStore(fixture.createRequest("missing", missing));
    String inactiveId = keyStores.createCustomKeyStore(fixture.createRequest("inactive", inactive));
    String noUserId = keyStores.createCustomKeyStore(fixture.createRequest("no-user", noUser));
    String unreachableId = keyStores.createCustomKeyStore(fixture.createRequest("unreachable", unreachable));
    String occupiedId = keyStores.createCustomKeyStore(fixture.createRequest("occupied", occupied));

    // Change the world behind the stores, as an operator or an outage would.
    fixture.registry = fixture.registry.without(missing.clusterId());
    fixture.withStates(inactive, HsmState.DEGRADED, HsmState.DELETED);
    String bareLabel = initializeTokenWithoutUser();
    Hsm first = noUser.hsms().get(0);
    fixture.withHsm(noUser, 0, Hsm.of(first.hsmId(), first.module(), bareLabel, TokenProfile.SOFTHSM2, HsmState.ACTIVE));
    Hsm gone = unreachable.hsms().get(1);
    fixture.withHsm(unreachable, 1, Hsm.of(gone.hsmId(), Path.of("/nonexistent/libpkcs11.so"), gone.tokenLabel(),
        TokenProfile.SOFTHSM2, HsmState.ACTIVE));
    fixture.open(); // connectAndFail goes through the reopened stores

    try (SoOnToken so = new SoOnToken(occupied.hsms().get(0).tokenLabel())) {
      assertThat(fixture.connectAndFail(missingId)).isEqualTo(ConnectionErrorCode.CLUSTER_NOT_FOUND);
      assertThat(fixture.connectAndFail(inactiveId)).isEqualTo(ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS);
      assertThat(fixture.connectAndFail(noUserId)).isEqualTo(ConnectionErrorCode.USER_NOT_FOUND);
      assertThat(fixture.connectAndFail(unreachableId)).isEqualTo(ConnectionErrorCode.NETWORK_ERRORS);
      assertThat(fixture.connectAndFail(occupiedId)).isEqualTo(ConnectionErrorCode.USER_LOGGED_IN);
    }
    assertThat(fixture.connections.connected(unreachableId)).as("no login is left behind").isEmpty();
  }

  @Test
  void aMasterKeyThatCannotOpenThePasswordIsAnInternalError() throws Exception {
    Cluster cluster = fixture.newCluster(2);
    CustomKeyStores keyStores = fixture.open();
    String id = keyStores.createCustomKeyStore(fixture.createRequest("orphaned", cluster));
    fixture.stop();
    java.nio.file.Files.delete(data.resolve("master.key"));
    fixture.open(); // with a new master key; connectAndFail goes through the reopened stores

    assertThat(fixture.connectAndFail(id)).isEqualTo(ConnectionErrorCode.INTERNAL_ERROR);
  }

  private static void login(Hsm hsm, Pin pin) {
    Token.login(softhsm.module(), hsm.tokenLabel(), TokenProfile.SOFTHSM2, pin, SessionPoolConfig.defaults()).close();
  }

  /** A token with an SO PIN but no user PIN: an HSM without a kmsuser. */
  private static String initializeTokenWithoutUser() throws Exception {
    String label = "no-kmsuser-" + System.nanoTime() % 100000;
    PKCS11Module raw = PKCS11Module.getInstance(SoftHsmClusterExtension.modulePath().toString());
    for (Slot slot : raw.getSlotList(true)) {
      if (!slot.getToken().getTokenInfo().isTokenInitialized()) {
        char[] padded = String.format("%-32s", label).toCharArray();
        raw.getPKCS11Module().C_InitToken(slot.getSlotID(), "so-pin-1234".toCharArray(), padded, true);
        return label;
      }
    }
    throw new IllegalStateException("no free SoftHSM2 slot");
  }

  /** The SO logged in on a token in this process: kmsuser cannot log in there meanwhile. */
  private static final class SoOnToken implements AutoCloseable {
    private final Session session;

    SoOnToken(String label) throws Exception {
      PKCS11Module raw = PKCS11Module.getInstance(SoftHsmClusterExtension.modulePath().toString());
      Slot found = null;
      for (Slot slot : raw.getSlotList(true)) {
        if (slot.getToken().getTokenInfo().getLabel().trim().equals(label)) {
          found = slot;
        }
      }
      session = found.getToken().openSession(true);
      char[] soPin = softhsm.soPin().withChars(char[]::clone);
      session.login(PKCS11Constants.CKU_SO, soPin);
    }

    @Override
    public void close() throws Exception {
      session.logout();
      session.closeSession();
    }
  }
}
