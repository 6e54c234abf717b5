package dev.keyhold.bench;

import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.KeyState;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Token;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.UUID;
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
import org.openjdk.jmh.annotations.Threads;

/**
 * CreateKey on a connected key store over a local SoftHSM2 cluster of 2 or 3 HSMs ({@code createKey},
 * {@code -p hsms=2,3}): the AES-256 material is generated in one HSM and copied, wrapped under the
 * cluster's trusted key, to each other one before the key is Enabled; so its cost is one generation
 * plus N-1 copies, beside the metadata transactions (H2, embedded) that every CreateKey makes.
 *
 * <p>Beside it, the two token steps alone on a 2-HSM cluster, through the adapter: {@code generateKey}
 * (a persistent, replicable AES-256 key generated in one HSM) and {@code copyKey} (what
 * {@code KeyReplication.copy} does: look the label up in the target, wrap in the source, unwrap in the
 * target). CreateKey at N HSMs should come to about generateKey + (N-1) copyKey.
 *
 * <p>Every call leaves a key in a token (createKey: in each of them): they pile up over the run (a
 * few hundred per trial at these rates), and SoftHSM2's object lookups and writes grow with them, so
 * keep runs short and compare runs of the same length. The real library, no outage shim. One thread:
 * {@code THREADS=1 benchmarks/run-jmh ReplicationBenchmark}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1)
public class ReplicationBenchmark {
  private static final String LABEL_PREFIX = "arn:aws:kms:us-east-1:111122223333:key/";

  /** A connected key store over {@code hsms} HSMs. */
  @State(Scope.Benchmark)
  public static class Store {
    @Param({"2", "3"})
    int hsms;

    BenchKeyStore store;
    CreateKeyRequest request;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      store = BenchKeyStore.open(BenchKeyStore.newDataDirectory(), BenchKeyStore.REAL_LIBRARY, hsms);
      request = CreateKeyRequest.inCustomKeyStore(store.storeId, "bench");
      KeyMetadata first = store.keys.createKey(request);
      if (first.keyState() != KeyState.Enabled) {
        throw new IllegalStateException("CreateKey gave a key in state " + first.keyState());
      }
      long holders = store.logins().tokens().values().stream()
          .filter(token -> token.findAesKey(first.arn()).isPresent()).count();
      if (holders != hsms) {
        throw new IllegalStateException("the key is on " + holders + " HSMs of " + hsms + ": not replicated");
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      store.close();
    }
  }

  /** Two HSMs of a connected 2-HSM store, and a replicable key in the first one. */
  @State(Scope.Benchmark)
  public static class Hsms {
    BenchKeyStore store;
    Token source;
    Token target;
    AesKey key;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      store = BenchKeyStore.open(BenchKeyStore.newDataDirectory(), BenchKeyStore.REAL_LIBRARY, 2);
      List<Token> tokens = List.copyOf(store.logins().tokens().values());
      source = tokens.get(0);
      target = tokens.get(1);
      key = source.generateAesKey(newTemplate());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      store.close();
    }
  }

  @Benchmark
  public KeyMetadata createKey(Store store) {
    return store.store.keys.createKey(store.request);
  }

  @Benchmark
  public AesKey generateKey(Hsms hsms) {
    return hsms.source.generateAesKey(newTemplate());
  }

  @Benchmark
  public AesKey copyKey(Hsms hsms) {
    AesKeyTemplate template = newTemplate();
    if (hsms.target.findAesKey(template.key().label()).isPresent()) {
      throw new IllegalStateException("label taken: " + template.key().label());
    }
    byte[] wrapped = hsms.source.wrapKey(TrustedWrappingKey.NAME, hsms.key);
    return hsms.target.unwrapAesKey(TrustedWrappingKey.NAME, wrapped, template);
  }

  /** A replicable key labelled and identified as CreateKey labels its keys: a fresh key ARN and id. */
  private static AesKeyTemplate newTemplate() {
    UUID id = UUID.randomUUID();
    byte[] idBytes = ByteBuffer.allocate(16).putLong(id.getMostSignificantBits()).putLong(id.getLeastSignificantBits())
        .array();
    return AesKeyTemplate.builder(AesKey.of(LABEL_PREFIX + id, idBytes)).replicable().build();
  }
}
