package dev.keyhold.kms.keystore;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;

/**
 * A service process for {@link CrashSafeRotationTest}, over a data directory. Each run is a fresh
 * process, as a real restart is: SoftHSM2 caches a token's PIN state per process.
 *
 * <ul>
 *   <li>{@code crash DATA STORE STEP}: connects the store and halts the JVM (no shutdown hooks, no
 *       flushing, as {@code kill -9} would) the moment the rotation reaches STEP; exit code
 *       {@link #HALTED}.
 *   <li>{@code restart DATA}: starts as the service does (resuming every store that was connecting),
 *       waits until each settles, disconnects, then logs in to every HSM with the password the store
 *       knows; exit code 0 only if every store connected and every login worked.
 * </ul>
 */
public final class RotationCrashChild {
  static final int HALTED = 99;

  private RotationCrashChild() {}

  public static void main(String[] args) throws InterruptedException {
    Path data = Path.of(args[1]);
    ClusterRegistry clusters = ClusterFile.read(data.resolve("clusters.json"));
    JdbcMetadataStore metadata = JdbcMetadataStore.embedded(data);
    MasterKey masterKey = MasterKey.loadOrCreate(data.resolve("master.key"));
    Checkpoints checkpoints = args[0].equals("crash")
        ? step -> {
          if (step.equals(args[3])) {
            Runtime.getRuntime().halt(HALTED);
          }
        }
        : Checkpoints.NONE;
    KeyStoreConnections connections = new KeyStoreConnections(metadata, clusters, masterKey,
        SessionPoolConfig.of(2, Duration.ofSeconds(5)), checkpoints);
    CustomKeyStores keyStores = new CustomKeyStores(metadata, clusters, masterKey, Clock.systemUTC(), connections);
    if (args[0].equals("crash")) {
      keyStores.connectCustomKeyStore(args[2]);
      awaitSettled(keyStores, args[2]);
      System.exit(1); // the step was never reached
    }
    keyStores.resume();
    boolean allGood = true;
    for (CustomKeyStoresListEntry entry : keyStores.describeCustomKeyStores(DescribeCustomKeyStoresRequest.all())
        .customKeyStores()) {
      String id = entry.customKeyStoreId();
      ConnectionState state = awaitSettled(keyStores, id);
      System.out.println(id + " after restart: " + state);
      allGood &= state == ConnectionState.CONNECTED;
      keyStores.disconnectCustomKeyStore(id);
      KeyStoreRecord store = metadata.inTransaction(c -> KeyStoreTable.byId(c, id)).orElseThrow();
      allGood &= store.pendingPassword == null;
      Pin known = masterKey.open(store.password, id);
      Cluster cluster = clusters.find(store.clusterId).orElseThrow();
      for (Hsm hsm : cluster.hsms()) {
        try (Pkcs11Module module = Pkcs11Module.load(hsm.module());
            Token token = Token.login(module, hsm.tokenLabel(), hsm.profile(),
                hsm.profile().loginPin(KeyStoreConnections.KMSUSER, known), SessionPoolConfig.defaults())) {
          System.out.println(id + " " + hsm.hsmId() + ": the known password logs in to " + token.label());
        } catch (RuntimeException e) {
          System.out.println(id + " " + hsm.hsmId() + ": " + e);
          allGood = false;
        }
      }
    }
    System.exit(allGood ? 0 : 1);
  }

  private static ConnectionState awaitSettled(CustomKeyStores keyStores, String id) throws InterruptedException {
    return keyStores.awaitConnected(id, Duration.ofSeconds(30)).connectionState();
  }
}
