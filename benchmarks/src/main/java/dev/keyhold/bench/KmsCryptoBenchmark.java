package dev.keyhold.bench;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.DecryptRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.GenerateDataKeyRequest;
import dev.keyhold.kms.key.GenerateDataKeyResponse;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.kms.keystore.Checkpoints;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * In-process KMS Encrypt, Decrypt and GenerateDataKey against a connected local key store, beside the
 * adapter's own AES-GCM on the same token in the same run: {@code kms*} over {@code adapter*} is what
 * the KMS layer keeps (target: 85% at 32 B and 4 KiB). Run through {@code benchmarks/run-jmh}
 * ({@code SOFTHSM2_CONF} must be set), e.g. {@code -p payloadBytes=32,4096 KmsCryptoBenchmark}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
public class KmsCryptoBenchmark {
  @Param({"32", "4096"})
  int payloadBytes;

  private JdbcMetadataStore metadata;
  private CustomKeyStores keyStores;
  private Pkcs11Module module;
  private Token adapterToken;
  private KmsCrypto crypto;
  private Aead adapter;
  private String keyId;
  private byte[] plaintext;
  private byte[] kmsCiphertext;
  private byte[] adapterCiphertext;
  private final Map<String, String> context = Map.of("purpose", "benchmark");
  private final byte[] aad = "{\"purpose\":\"benchmark\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    Path softhsm = Path.of(System.getenv(SoftHsmDirectory.CONFIG_VARIABLE)).toAbsolutePath().getParent();
    SoftHsmDirectory.at(softhsm).create();
    Path data = Files.createTempDirectory(softhsm, "data-");
    SecureRandom random = new SecureRandom();
    Pin pin = Pin.random(random, 16);
    Path library = Path.of(System.getProperty("keyhold.bench.module", "/usr/lib/softhsm/libsofthsm2.so"));
    module = Pkcs11Module.load(library);
    Cluster cluster = new LocalClusterProvisioner(module, data.resolve("clusters.json"))
        .provision(ClusterId.random(random), 2, Optional.empty(), Pin.random(random, 16), pin).cluster();
    ClusterRegistry registry = ClusterRegistry.of(java.util.List.of(cluster));
    metadata = JdbcMetadataStore.embedded(data);
    MasterKey masterKey = MasterKey.loadOrCreate(data.resolve("master.key"));
    KeyStoreConnections connections = new KeyStoreConnections(metadata, registry, masterKey,
        SessionPoolConfig.defaults(), Checkpoints.NONE);
    keyStores = new CustomKeyStores(metadata, registry, masterKey, Clock.systemUTC(), connections);
    String store = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest(
        "bench", cluster.clusterId(), cluster.trustAnchor().pem(), pin, null));
    keyStores.connectCustomKeyStore(store);
    if (keyStores.awaitConnected(store, Duration.ofMinutes(1)).connectionState() != ConnectionState.CONNECTED) {
      throw new IllegalStateException("key store " + store + " did not connect");
    }
    KmsKeys keys = new KmsKeys(metadata, registry, keyStores, connections, new Account("111122223333", "us-east-1"),
        Clock.systemUTC());
    crypto = new KmsCrypto(keys, connections);
    keyId = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, "bench")).keyId();

    adapterToken = connections.connected(store).orElseThrow().tokens().values().iterator().next();
    adapter = adapterToken.aesGcm(adapterToken.generateAesKey(
        AesKeyTemplate.builder(AesKey.of("adapter-baseline", new byte[] {1})).build()));

    plaintext = new byte[payloadBytes];
    random.nextBytes(plaintext);
    kmsCiphertext = crypto.encrypt(new EncryptRequest(keyId, plaintext, context, null)).ciphertextBlob();
    adapterCiphertext = adapter.encrypt(plaintext, aad);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    keyStores.close();
    metadata.close();
    module.close();
  }

  @Benchmark
  public byte[] kmsEncrypt() {
    return crypto.encrypt(new EncryptRequest(keyId, plaintext, context, null)).ciphertextBlob();
  }

  @Benchmark
  public byte[] kmsDecrypt() {
    return crypto.decrypt(new DecryptRequest(kmsCiphertext, context, null, null)).plaintext();
  }

  @Benchmark
  public GenerateDataKeyResponse kmsGenerateDataKey() {
    return crypto.generateDataKey(new GenerateDataKeyRequest(keyId, context, "AES_256", null));
  }

  @Benchmark
  public byte[] adapterEncrypt() {
    return adapter.encrypt(plaintext, aad);
  }

  @Benchmark
  public byte[] adapterDecrypt() {
    return adapter.decrypt(adapterCiphertext, aad);
  }
}
