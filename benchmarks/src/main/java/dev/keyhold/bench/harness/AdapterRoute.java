package dev.keyhold.bench.harness;

import com.google.common.io.BaseEncoding;
import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import java.security.SecureRandom;
import java.time.Duration;

/**
 * The token under test through Keyhold's adapter: logged in, with one persistent AES-256 key made for
 * the run and destroyed at its end, so that a real HSM keeps nothing of the benchmark.
 */
final class AdapterRoute implements AutoCloseable {
  /** Every key the benchmark makes carries this label prefix, to be recognised should a run be killed. */
  static final String KEY_LABEL_PREFIX = "keyhold-bench-";

  private final Token token;
  private final AesKey key;
  private final Aead aead;
  private final SecureRandom random;

  private AdapterRoute(Token token, AesKey key, SecureRandom random) {
    this.token = token;
    this.key = key;
    this.random = random;
    this.aead = token.aesGcm(key);
  }

  /** Logs in to {@code tested} in {@code module} with a session pool of {@code maxThreads} sessions. */
  static AdapterRoute open(Pkcs11Module module, TokenUnderTest tested, int maxThreads) {
    Token token = Token.login(module, tested.label(), tested.profile(), tested.loginPin(),
        SessionPoolConfig.of(maxThreads, Duration.ofSeconds(30)));
    try {
      SecureRandom random = new SecureRandom();
      return new AdapterRoute(token, newKey(token, random), random);
    } catch (RuntimeException e) {
      token.close();
      throw e;
    }
  }

  /** The key the adapter's workloads use, which the raw C route uses too. */
  AesKey key() {
    return key;
  }

  Token token() {
    return token;
  }

  Aead aead() {
    return aead;
  }

  /** One key generation, as {@code CreateKey} makes a KMS key, and its removal. */
  void generateAndDestroyKey() {
    token.destroyKey(newKey(token, random));
  }

  /** A name for a key this run makes, unique on the token. */
  AesKey newKeyName() {
    return newKeyName(random);
  }

  private static AesKey newKeyName(SecureRandom random) {
    byte[] id = new byte[16];
    random.nextBytes(id);
    return AesKey.of(KEY_LABEL_PREFIX + BaseEncoding.base16().lowerCase().encode(id), id);
  }

  private static AesKey newKey(Token token, SecureRandom random) {
    return token.generateAesKey(AesKeyTemplate.builder(newKeyName(random)).build());
  }

  /** Destroys a key another route made on the token under {@code name}, if it is there. */
  void destroyIfPresent(AesKey name) {
    token.findAesKey(name.label()).ifPresent(token::destroyKey);
  }

  @Override
  public void close() {
    try {
      token.destroyKey(key);
    } finally {
      token.close();
    }
  }
}
