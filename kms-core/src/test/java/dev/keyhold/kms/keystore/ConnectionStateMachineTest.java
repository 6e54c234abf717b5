package dev.keyhold.kms.keystore;

import static dev.keyhold.kms.keystore.ConnectionState.CONNECTED;
import static dev.keyhold.kms.keystore.ConnectionState.CONNECTING;
import static dev.keyhold.kms.keystore.ConnectionState.DISCONNECTED;
import static dev.keyhold.kms.keystore.ConnectionState.DISCONNECTING;
import static dev.keyhold.kms.keystore.ConnectionState.FAILED;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole connection state machine as one table: every operation that depends on the state, tried
 * in every state. Stores reach CONNECTED for real; the states a store only passes through (CONNECTING,
 * DISCONNECTING) and FAILED are written to the metadata store as a crash would leave them.
 */
class ConnectionStateMachineTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  private static final ConnectionState[] STATES = {DISCONNECTED, CONNECTED, CONNECTING, FAILED, DISCONNECTING};

  /** An operation under test, and what each state does with it: a resulting state, or null for an error. */
  private record Row(String operation, BiConsumer<CustomKeyStores, String> call, ConnectionState... outcomes) {}

  private static final Pin NEW_PASSWORD = Pin.of("a-new-password".toCharArray());

  private static final List<Row> TABLE = List.of(
      //                                                                     DISCONNECTED  CONNECTED     CONNECTING  FAILED        DISCONNECTING
      new Row("ConnectCustomKeyStore", CustomKeyStores::connectCustomKeyStore, CONNECTED, CONNECTED, CONNECTING, null, null),
      new Row("DisconnectCustomKeyStore", CustomKeyStores::disconnectCustomKeyStore,
          null, DISCONNECTED, DISCONNECTED, DISCONNECTED, null),
      new Row("UpdateCustomKeyStore name", (keyStores, id) -> keyStores.updateCustomKeyStore(
          new UpdateCustomKeyStoreRequest(id, "renamed-" + id, null, null)), DISCONNECTED, CONNECTED, null, null, null),
      new Row("UpdateCustomKeyStore password", (keyStores, id) -> keyStores.updateCustomKeyStore(
          new UpdateCustomKeyStoreRequest(id, null, NEW_PASSWORD, null)), DISCONNECTED, null, null, null, null),
      new Row("DeleteCustomKeyStore", CustomKeyStores::deleteCustomKeyStore, DISCONNECTED, null, null, null, null));

  @TempDir Path data;

  @Test
  void everyOperationInEveryState() throws Exception {
    KeyStoreFixture fixture = new KeyStoreFixture(softhsm, data);
    List<Cluster> clusters = new ArrayList<>();
    for (int i = 0; i < TABLE.size() * STATES.length; i++) {
      clusters.add(fixture.newCluster(2));
    }
    CustomKeyStores keyStores = fixture.open();
    List<String> mismatches = new ArrayList<>();
    int cell = 0;
    for (Row row : TABLE) {
      for (int s = 0; s < STATES.length; s++) {
        ConnectionState state = STATES[s];
        String id = keyStores.createCustomKeyStore(fixture.createRequest("cell-" + cell, clusters.get(cell)));
        cell++;
        putInto(fixture, keyStores, id, state);

        ConnectionState expected = row.outcomes()[s];
        String outcome;
        try {
          row.call().accept(keyStores, id);
          outcome = row.operation().equals("DeleteCustomKeyStore") ? "deleted"
              : (expected == CONNECTED ? fixture.awaitSettled(id) : fixture.describe(id)).connectionState().name();
        } catch (KmsException e) {
          outcome = e.type() == KmsErrorType.CustomKeyStoreInvalidStateException ? "invalid state" : e.toString();
        }
        String wanted = expected == null ? "invalid state"
            : row.operation().equals("DeleteCustomKeyStore") ? "deleted" : expected.name();
        if (!outcome.equals(wanted)) {
          mismatches.add(row.operation() + " in " + state + ": " + outcome + ", expected " + wanted);
        }
        cleanUp(fixture, keyStores, id);
      }
    }
    assertThat(mismatches).isEmpty();
  }

  private static void putInto(KeyStoreFixture fixture, CustomKeyStores keyStores, String id, ConnectionState state)
      throws InterruptedException {
    if (state == CONNECTED) {
      keyStores.connectCustomKeyStore(id);
      assertThat(fixture.awaitSettled(id).connectionState()).isEqualTo(CONNECTED);
    } else if (state != DISCONNECTED) {
      setState(fixture, id, state);
    }
  }

  private static void cleanUp(KeyStoreFixture fixture, CustomKeyStores keyStores, String id) {
    fixture.connections.disconnect(id);
    if (fixture.metadata.inTransaction(c -> KeyStoreTable.byId(c, id)).isPresent()) {
      setState(fixture, id, DISCONNECTED);
      keyStores.deleteCustomKeyStore(id);
    }
  }

  private static void setState(KeyStoreFixture fixture, String id, ConnectionState state) {
    fixture.metadata.inTransaction(c -> {
      KeyStoreRecord store = KeyStoreTable.byId(c, id).orElseThrow();
      KeyStoreTable.update(c, store.withState(state, state == FAILED ? ConnectionErrorCode.INTERNAL_ERROR : null));
      return null;
    });
  }
}
