package dev.keyhold.bench;

import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.keystore.ServingHsm;
import dev.keyhold.shims.HsmOutages;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
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
 * KMS Encrypt (32 B, context {@code {"purpose":"benchmark"}}) with a key replicated on a 2-HSM local
 * cluster, both HSMs answering ({@code lost=false}: calls alternate between them) or one of them
 * taken down before the measurement ({@code lost=true}: every call on the other one).
 *
 * <p>Both cases run every PKCS#11 call through {@link HsmOutages}' shim over SoftHSM2, the only
 * library loaded in the process (provisioning too), so they differ only in the outage; the shim adds
 * a {@code C_GetSessionInfo} and two {@code access(2)} to every call, so compare these figures with
 * each other, not with {@link KmsCryptoBenchmark}. The HSM is down, and the KMS layer has marked it
 * lost (a {@link KeyReplication} pass, as the service's background reconciler would make), before the
 * first warm-up call; the trial fails if it is not, or if it comes back during the run.
 *
 * <p>Run through {@code benchmarks/run-jmh} (1 and 2 threads): {@code benchmarks/run-jmh FailoverBenchmark}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
public class FailoverBenchmark {
  @Param({"false", "true"})
  boolean lost;

  private BenchKeyStore store;
  private HsmOutages outages;
  private KeyReplication replication;
  private String downLabel;
  private EncryptRequest request;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    Path data = BenchKeyStore.newDataDirectory();
    outages = HsmOutages.create(data.resolve("outage-shim"), BenchKeyStore.REAL_LIBRARY);
    store = BenchKeyStore.open(data, outages.module(), 2);
    String keyId = store.keys.createKey(CreateKeyRequest.inCustomKeyStore(store.storeId, "bench")).keyId();
    byte[] plaintext = new byte[32];
    new SecureRandom().nextBytes(plaintext);
    request = new EncryptRequest(keyId, plaintext, Map.of("purpose", "benchmark"), null);
    for (int i = 0; i < 4; i++) {
      store.crypto.encrypt(request); // on each HSM: the key is on both
    }

    List<ServingHsm> hsms = store.logins().hsms();
    downLabel = hsms.get(0).token().label();
    if (lost) {
      outages.takeDown(downLabel);
    }
    replication = store.keyhold.replication();
    replication.runOnce();
    checkLost();
    store.crypto.encrypt(request);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    try {
      checkLost();
    } finally {
      outages.bringBack(downLabel);
      replication.close();
      store.close();
    }
  }

  @Benchmark
  public byte[] encrypt() {
    return store.crypto.encrypt(request).ciphertextBlob();
  }

  /** Whether the KMS layer sees exactly the HSM this trial took down as lost. */
  private void checkLost() {
    List<ServingHsm> hsms = store.logins().hsms();
    if (hsms.get(0).isLost() != lost || hsms.get(1).isLost()) {
      throw new IllegalStateException("expected " + (lost ? "only " + hsms.get(0).hsmId() : "no HSM")
          + " lost, but the KMS layer sees " + hsms);
    }
  }
}
