package dev.keyhold.bench.harness;

import static com.google.common.base.Preconditions.checkState;

import dev.keyhold.bench.EmbeddedKeyhold;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/**
 * The routes a run needs, each opened on first use and closed with the run: raw C, the adapter and
 * SunPKCS11 on the token under test, and Keyhold itself, embedded or at an endpoint.
 *
 * <p>The embedded Keyhold runs over SoftHSM2 in the throwaway home {@code bin/keyhold-bench} makes,
 * whose {@code softhsm2.conf} must be the process's {@code SOFTHSM2_CONF}: SoftHSM2 reads one
 * configuration per process.
 */
final class Routes implements AutoCloseable {
  private final Pkcs11Module module;
  private final TokenUnderTest tested;
  private final int maxThreads;
  private final Optional<Path> home;
  private final Path softHsmLibrary;
  private final Optional<Endpoint> endpoint;
  private final PrintStream progress;

  private RawCRoute rawC;
  private AdapterRoute adapter;
  private SunPkcs11Route sunPkcs11;
  private AesKey sunPkcs11Key;
  private EmbeddedRoute keyhold;
  private HttpRoute http;

  /** A running Keyhold (or AWS KMS) to measure over HTTP, and the key to use there. */
  record Endpoint(URI uri, String region, AwsCredentialsProvider credentials, String keyId) {}

  /** The embedded Keyhold's crypto operations and the KMS key made for the run. */
  record EmbeddedRoute(EmbeddedKeyhold service, String keyId) {
    KmsCrypto crypto() {
      return service.crypto();
    }
  }

  /** A KmsClient whose pool holds a connection per thread, and the key it calls. */
  record HttpRoute(SdkHttpClient pool, KmsClient client, String keyId) implements AutoCloseable {
    @Override
    public void close() {
      try (SdkHttpClient connections = pool) {
        client.close();
      }
    }
  }

  /**
   * @param module the loaded library of {@code tested}, owned by the caller
   * @param home the throwaway home of the embedded Keyhold; empty when it cannot run here
   */
  Routes(Pkcs11Module module, TokenUnderTest tested, int maxThreads, Optional<Path> home, Path softHsmLibrary,
      Optional<Endpoint> endpoint, PrintStream progress) {
    this.module = module;
    this.tested = tested;
    this.maxThreads = maxThreads;
    this.home = home;
    this.softHsmLibrary = softHsmLibrary;
    this.endpoint = endpoint;
    this.progress = progress;
  }

  AdapterRoute adapter() {
    if (adapter == null) {
      adapter = AdapterRoute.open(module, tested, maxThreads);
    }
    return adapter;
  }

  /** The raw C program, logged in to the token under test, on the adapter's key. */
  RawCRoute rawC() {
    if (rawC == null) {
      rawC = RawCRoute.open(tested, adapter().key());
    }
    return rawC;
  }

  SunPkcs11Route sunPkcs11() {
    if (sunPkcs11 == null) {
      sunPkcs11Key = adapter().newKeyName(); // the adapter must initialise the library first
      sunPkcs11 = SunPkcs11Route.open(tested, module.slotId(tested.label()), sunPkcs11Key);
    }
    return sunPkcs11;
  }

  EmbeddedRoute keyhold() {
    if (keyhold == null) {
      keyhold = startKeyhold();
    }
    return keyhold;
  }

  HttpRoute http() {
    if (http == null) {
      SdkHttpClient pool = EmbeddedKeyhold.httpClient(maxThreads);
      http = endpoint
          .map(at -> new HttpRoute(pool, EmbeddedKeyhold.client(at.uri(), at.region(), at.credentials(), pool),
              at.keyId()))
          .orElseGet(() -> new HttpRoute(pool, keyhold().service().client(pool), keyhold().keyId()));
    }
    return http;
  }

  /** Where the HTTP workloads go: the endpoint given, or the embedded Keyhold. */
  String httpTarget() {
    return endpoint.map(at -> at.uri().toString()).orElse("the embedded Keyhold");
  }

  private EmbeddedRoute startKeyhold() {
    Path keyholdHome = home.orElseThrow(() -> new IllegalStateException(
        "the kms workloads (and http without --endpoint) run on an embedded Keyhold over SoftHSM2, which needs"
            + " --home; bin/keyhold-bench gives it when no --module is given"));
    Path config = SoftHsmDirectory.at(keyholdHome.resolve("softhsm")).configFile();
    checkState(Objects.equals(System.getenv(SoftHsmDirectory.CONFIG_VARIABLE), config.toString()),
        "the embedded Keyhold needs %s=%s, as SoftHSM2 reads one configuration per process",
        SoftHsmDirectory.CONFIG_VARIABLE, config);
    try {
      EmbeddedKeyhold service = EmbeddedKeyhold.start(keyholdHome, softHsmLibrary, progress);
      try (SdkHttpClient pool = EmbeddedKeyhold.httpClient(1); KmsClient client = service.client(pool)) {
        return new EmbeddedRoute(service, EmbeddedKeyhold.createKey(client, "keyhold-bench"));
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot start the embedded Keyhold in " + keyholdHome + ": " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting the embedded Keyhold", e);
    }
  }

  /** Closes what was opened, the service last; the module is the caller's. */
  @Override
  public void close() {
    if (sunPkcs11Key != null) {
      adapter.destroyIfPresent(sunPkcs11Key);
    }
    try (AutoCloseable service = keyhold == null ? null : keyhold.service();
        AutoCloseable token = adapter;
        AutoCloseable program = rawC;
        AutoCloseable client = http) {
      // closed in reverse order by try-with-resources
    } catch (Exception e) {
      throw new IllegalStateException("closing the benchmark's routes failed: " + e, e);
    }
  }
}
