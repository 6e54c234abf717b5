package dev.keyhold.bench;

import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.DecryptRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.GenerateDataKeyRequest;
import dev.keyhold.kms.key.GenerateDataKeyResponse;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Token;
import java.security.SecureRandom;
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

  private BenchKeyStore store;
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
    store = BenchKeyStore.open(BenchKeyStore.newDataDirectory(), BenchKeyStore.REAL_LIBRARY, 2);
    crypto = store.crypto;
    keyId = store.keys.createKey(CreateKeyRequest.inCustomKeyStore(store.storeId, "bench")).keyId();

    adapterToken = store.logins().tokens().values().iterator().next();
    adapter = adapterToken.aesGcm(adapterToken.generateAesKey(
        AesKeyTemplate.builder(AesKey.of("adapter-baseline", new byte[] {1})).build()));

    plaintext = new byte[payloadBytes];
    new SecureRandom().nextBytes(plaintext);
    kmsCiphertext = crypto.encrypt(new EncryptRequest(keyId, plaintext, context, null)).ciphertextBlob();
    adapterCiphertext = adapter.encrypt(plaintext, aad);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    store.close();
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
