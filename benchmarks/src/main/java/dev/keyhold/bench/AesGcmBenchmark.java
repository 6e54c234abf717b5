package dev.keyhold.bench;

import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Arrays;
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
 * AES-256-GCM through the adapter against SoftHSM2: one complete {@link Aead#encrypt} or
 * {@link Aead#decrypt} per op, IV picked by the adapter, key a persistent sensitive token key.
 *
 * <p>The JVM must be started with {@code SOFTHSM2_CONF} set, because SoftHSM2 reads it once at
 * {@code C_Initialize}; {@code benchmarks/run-jmh} points it into a temporary directory. Run with
 * {@code -t 1} and {@code -t 2}: all threads share one token, so they share its session pool.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Benchmark)
public class AesGcmBenchmark {
  private static final String MODULE_PROPERTY = "keyhold.bench.module";

  @Param({"32", "1024", "4096", "65536"})
  int payloadBytes;

  @Param({"0", "32"})
  int aadBytes;

  private Pkcs11Module module;
  private Token token;
  private Aead aead;
  private byte[] plaintext;
  private byte[] aad; // null when aadBytes == 0, as a caller without AAD would pass
  private byte[] ciphertext;

  @Setup(Level.Trial)
  public void setUp() {
    // Every JMH fork provisions its own throwaway cluster, so trials never share a token's state.
    ThrowawayToken throwaway = ThrowawayToken.provision(
        Path.of(System.getProperty(MODULE_PROPERTY, "/usr/lib/softhsm/libsofthsm2.so")), "benchmarks/run-jmh");
    module = throwaway.module();
    token = Token.login(
        module, throwaway.label(), TokenProfile.SOFTHSM2, throwaway.kmsuserPin(), SessionPoolConfig.defaults());
    SecureRandom random = new SecureRandom();
    byte[] keyId = new byte[16];
    random.nextBytes(keyId);
    AesKey key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("bench-aes-256", keyId)).build());
    aead = token.aesGcm(key);

    plaintext = new byte[payloadBytes];
    random.nextBytes(plaintext);
    if (aadBytes > 0) {
      aad = new byte[aadBytes];
      random.nextBytes(aad);
    }
    ciphertext = aead.encrypt(plaintext, aad);
    // A benchmark that measures a failing path would look fast; check the round trip once.
    if (!Arrays.equals(aead.decrypt(ciphertext, aad), plaintext)) {
      throw new IllegalStateException("AES-GCM round trip failed");
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (token != null) {
      token.close();
    }
    if (module != null) {
      module.close();
    }
  }

  @Benchmark
  public byte[] encrypt() {
    return aead.encrypt(plaintext, aad);
  }

  @Benchmark
  public byte[] decrypt() {
    return aead.decrypt(ciphertext, aad);
  }
}
