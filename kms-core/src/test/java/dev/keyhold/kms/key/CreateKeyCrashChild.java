package dev.keyhold.kms.key;

import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.ServiceNode;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.SessionPoolConfig;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A service process for {@link CreateKeyCrashTest}, over a data directory, always a fresh JVM.
 *
 * <ul>
 *   <li>{@code crash DATA STORE STEP}: connects the store, creates {@link #KEPT} keys, then runs one
 *       more CreateKey and halts the JVM (as {@code kill -9} would) at the first checkpoint whose name
 *       starts with STEP ({@code intent-recorded}, {@code material-generated}, {@code replicated-to},
 *       {@code enabling}); exit code {@link #HALTED}.
 *   <li>{@code restart DATA STORE}: starts as the service does (a new run of the same node, which
 *       revokes the dead run's leases); exit code 0 only if the crash left one
 *       half-created key and, once the store is connected, none is left, the {@link #KEPT} keys are
 *       listed, every HSM holds their material and no orphan, and they encrypt and decrypt.
 * </ul>
 */
public final class CreateKeyCrashChild {
  static final int HALTED = 98;
  static final int KEPT = 2;

  private CreateKeyCrashChild() {}

  public static void main(String[] args) throws Exception {
    Path data = Path.of(args[1]);
    String storeId = args[2];
    ClusterRegistry clusters = ClusterFile.read(data.resolve("clusters.json"));
    JdbcMetadataStore metadata = JdbcMetadataStore.embedded(data);
    MasterKey masterKey = MasterKey.loadOrCreate(data.resolve("master.key"));
    KeyStoreConnections connections = new KeyStoreConnections(metadata, clusters, masterKey,
        SessionPoolConfig.of(2, Duration.ofSeconds(5)), Checkpoints.NONE);
    CustomKeyStores keyStores = new CustomKeyStores(metadata, clusters, masterKey, Clock.systemUTC(), connections);
    AtomicBoolean armed = new AtomicBoolean();
    Checkpoints haltAfterMaterial = step -> {
      if (armed.get() && step.startsWith(args[3])) {
        Runtime.getRuntime().halt(HALTED);
      }
    };
    KmsKeys keys = new KmsKeys(metadata, clusters, keyStores, connections, new Account("111122223333", "us-east-1"),
        Clock.systemUTC(), Optional.empty(), ServiceNode.LOCAL, haltAfterMaterial);
    int interrupted = args[0].equals("crash") ? 0 : creating(metadata);
    if (args[0].equals("crash")) {
      keyStores.connectCustomKeyStore(storeId);
    } else {
      keyStores.resume();
    }
    keyStores.awaitConnected(storeId, Duration.ofSeconds(30));
    if (args[0].equals("crash")) {
      for (int i = 0; i < KEPT; i++) {
        keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "kept"));
      }
      armed.set(true);
      keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "interrupted"));
      System.exit(1); // the checkpoint was never reached
    }
    int creating = creating(metadata);
    KeyMaterialReport report = keys.materialReports().keyMaterialReport(storeId);
    List<ListKeysResponse.Entry> listed = keys.listKeys(null, null).keys();
    KmsCrypto crypto = new KmsCrypto(keys, keyStores, connections);
    boolean usable = listed.stream().allMatch(key -> Arrays.equals(new byte[] {7}, crypto.decrypt(new DecryptRequest(
        crypto.encrypt(new EncryptRequest(key.keyId(), new byte[] {7}, null, null)).ciphertextBlob(), null, null,
        null)).plaintext()));
    System.out.println("interrupted before restart=" + interrupted + " creating=" + creating + " listed="
        + listed.size() + " missing=" + report.missing() + " orphans=" + report.orphans() + " usable=" + usable);
    System.exit(interrupted == 1 && creating == 0 && listed.size() == KEPT && report.missing().isEmpty()
        && report.orphans().isEmpty() && usable ? 0 : 1);
  }

  private static int creating(JdbcMetadataStore metadata) {
    return metadata.inTransaction(c -> {
      try (Statement statement = c.createStatement();
          ResultSet rows = statement.executeQuery("SELECT COUNT(*) FROM kms_keys WHERE key_state = 'Creating'")) {
        rows.next();
        return rows.getInt(1);
      }
    });
  }
}
