package dev.keyhold.bench;

import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the first use of a key costs after a (re)connect, as a token fills: for each key count given,
 * the token is filled up to it, then a few fresh logins each time their connect, the first Encrypt of
 * one key, the first Encrypt of another, and a later Encrypt of the first. Not a JMH benchmark: a
 * first use happens once per key and connection, so it is timed once per login and the median kept.
 *
 * <p>Usage: {@code SOFTHSM2_CONF=<dir>/softhsm2.conf java -cp benchmarks.jar
 * dev.keyhold.bench.FirstUseLatency 10 1000 5000}; see {@code benchmarks/run-first-use}.
 */
public final class FirstUseLatency {
  private static final int LOGINS = 5;

  private FirstUseLatency() {}

  public static void main(String[] args) {
    if (args.length == 0) {
      throw new IllegalArgumentException("usage: SOFTHSM2_CONF=... FirstUseLatency <key count>...");
    }
    ThrowawayToken throwaway =
        ThrowawayToken.provision(Path.of("/usr/lib/softhsm/libsofthsm2.so"), "benchmarks/run-first-use");
    Pkcs11Module module = throwaway.module();
    String label = throwaway.label();
    Pin pin = throwaway.kmsuserPin();
    SecureRandom random = new SecureRandom();
    List<AesKey> keys = new ArrayList<>();
    System.out.println("keys  connect_ms  first_use_ms  second_key_first_use_ms  warm_encrypt_us");
    try (Token filler = Token.login(module, label, TokenProfile.SOFTHSM2, pin, SessionPoolConfig.defaults())) {
      for (String arg : args) {
        int count = Integer.parseInt(arg);
        while (keys.size() < count) {
          AesKey key = AesKey.of("arn:aws:kms:eu-west-1:111122223333:key/bench-" + keys.size(),
              ByteBuffer.allocate(16).putLong(random.nextLong()).putLong(keys.size()).array());
          keys.add(filler.generateAesKey(AesKeyTemplate.builder(key).build()));
        }
        double[][] samples = new double[4][LOGINS];
        for (int i = 0; i < LOGINS; i++) {
          AesKey first = keys.get(random.nextInt(keys.size()));
          AesKey second = keys.get(random.nextInt(keys.size()));
          long t0 = System.nanoTime();
          try (Token token = Token.login(module, label, TokenProfile.SOFTHSM2, pin, SessionPoolConfig.defaults())) {
            long t1 = System.nanoTime();
            token.aesGcm(first).encrypt(new byte[32], null);
            long t2 = System.nanoTime();
            token.aesGcm(second).encrypt(new byte[32], null);
            long t3 = System.nanoTime();
            token.aesGcm(first).encrypt(new byte[32], null);
            long t4 = System.nanoTime();
            samples[0][i] = (t1 - t0) / 1e6;
            samples[1][i] = (t2 - t1) / 1e6;
            samples[2][i] = (t3 - t2) / 1e6;
            samples[3][i] = (t4 - t3) / 1e3;
          }
        }
        System.out.printf("%5d  %10.1f  %12.1f  %23.1f  %15.0f%n",
            count, median(samples[0]), median(samples[1]), median(samples[2]), median(samples[3]));
      }
    } finally {
      module.close();
    }
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
