package dev.keyhold.softhsm;

import dev.keyhold.kms.cluster.Cluster;
import dev.keyhold.kms.cluster.ClusterRegistry;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.DecryptRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.GenerateDataKeyRequest;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.ClusterHealth;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.keystore.Checkpoints;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.CustomKeyStoresListEntry;
import dev.keyhold.kms.keystore.DescribeCustomKeyStoresRequest;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold}: until the HTTP service lands, runs the KMS layer end to end on this machine: a
 * throwaway local 2-HSM SoftHSM2 cluster, a custom key store (H2 metadata and a master key in the same
 * throwaway directory) connected with its kmsuser password rotated, a KMS key generated in the HSM, and
 * Encrypt, Decrypt and GenerateDataKey inside it.
 */
@Command(name = "keyhold", mixinStandardHelpOptions = true,
    description = "Runs Keyhold's KMS layer against a throwaway local SoftHSM2 cluster.")
public final class Demo implements Callable<Integer> {
  @Option(names = "--dir", required = true, paramLabel = "DIR", description = "Throwaway working directory.")
  Path dir;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH")
  Path modulePath;

  @Override
  public Integer call() throws InterruptedException {
    SecureRandom random = new SecureRandom();
    SoftHsmDirectory directory = SoftHsmDirectory.at(dir);
    directory.create();
    directory.checkActiveInThisProcess();
    Pin kmsuserPassword = Pin.random(random, 16);
    try (Pkcs11Module module = Pkcs11Module.load(modulePath);
        JdbcMetadataStore metadata = JdbcMetadataStore.embedded(dir.resolve("data"))) {
      System.out.println("module      " + module.describe());
      Cluster cluster = new LocalClusterProvisioner(module, dir.resolve("clusters.json"))
          .provision(ClusterId.random(random), 2, Optional.empty(), Pin.random(random, 16), kmsuserPassword)
          .cluster();
      System.out.println("cluster     " + cluster.clusterId() + ", HSMs " + cluster.hsms().size()
          + ", trust anchor " + cluster.trustAnchor().certificate().getSubjectX500Principal());
      ClusterRegistry clusters = ClusterRegistry.of(List.of(cluster));
      MasterKey masterKey = MasterKey.loadOrCreate(dir.resolve("data/master.key"));
      KeyStoreConnections connections = new KeyStoreConnections(
          metadata, clusters, masterKey, SessionPoolConfig.defaults(), Checkpoints.NONE);
      try (CustomKeyStores keyStores = new CustomKeyStores(metadata, clusters, masterKey, Clock.systemUTC(),
          connections)) {
        String storeId = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest(
            "demo", cluster.clusterId(), cluster.trustAnchor().pem(), kmsuserPassword, null));
        keyStores.connectCustomKeyStore(storeId);
        CustomKeyStoresListEntry store = awaitSettled(keyStores, storeId);
        System.out.println("key store   " + storeId + " " + store.connectionState()
            + " (kmsuser logged in to every HSM; its password rotated to one only the store knows)");

        KmsKeys keys = new KmsKeys(metadata, clusters, keyStores, connections,
            new Account("111122223333", "us-east-1"), Clock.systemUTC());
        KmsCrypto crypto = new KmsCrypto(keys, connections);
        KeyMetadata key = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "demo key"));
        System.out.println("KMS key     " + key.arn() + " " + key.keyState() + ", Origin " + key.origin());
        try (KeyReplication replication = new KeyReplication(keys, connections, metadata, Clock.systemUTC())) {
          replication.runOnce();
          ClusterHealth health = replication.health(storeId).orElseThrow();
          System.out.println("health      cluster " + health.state() + "; " + health.hsms().stream()
              .map(hsm -> hsm.hsmId() + " " + hsm.state() + ", " + hsm.keysMissing() + " key(s) missing")
              .collect(Collectors.joining("; ")) + " (the key was copied to every HSM, wrapped under the"
              + " cluster's trusted key)");
        }

        byte[] plaintext = "Hello from inside the HSM".getBytes(StandardCharsets.UTF_8);
        Map<String, String> context = Map.of("purpose", "demo");
        byte[] blob = crypto.encrypt(new EncryptRequest(key.keyId(), plaintext, context, null)).ciphertextBlob();
        System.out.println("Encrypt     " + plaintext.length + " B -> CiphertextBlob of " + blob.length + " B");
        byte[] back = crypto.decrypt(new DecryptRequest(blob, context, null, null)).plaintext();
        System.out.println("Decrypt     \"" + new String(back, StandardCharsets.UTF_8) + "\"");
        try {
          crypto.decrypt(new DecryptRequest(blob, Map.of("purpose", "other"), null, null));
        } catch (KmsException expected) {
          System.out.println("Decrypt     with another encryption context -> " + expected.type());
        }
        int dataKeyBytes = crypto.generateDataKey(new GenerateDataKeyRequest(key.keyId(), context, "AES_256", null))
            .plaintext().orElseThrow().length;
        System.out.println("GenerateDataKey -> a " + dataKeyBytes + "-byte data key, and its CiphertextBlob");
        keyStores.disconnectCustomKeyStore(storeId);
      }
    }
    return 0;
  }

  private static CustomKeyStoresListEntry awaitSettled(CustomKeyStores keyStores, String id)
      throws InterruptedException {
    while (true) {
      CustomKeyStoresListEntry entry = keyStores.describeCustomKeyStores(
          new DescribeCustomKeyStoresRequest(id, null, null, null)).customKeyStores().get(0);
      if (entry.connectionState() != ConnectionState.CONNECTING) {
        return entry;
      }
      Thread.sleep(20);
    }
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new Demo()).execute(args));
  }
}
