package dev.keyhold.bench.harness;

import com.google.common.collect.ImmutableList;
import dev.keyhold.bench.KmsOperation;
import dev.keyhold.pkcs11.Aead;
import java.util.List;
import java.util.Locale;

/**
 * What {@code keyhold-bench} can measure: one kind of call by one route (docs/bench-harness.md says
 * what each one calls). A workload turns a payload into a ready call ({@link #prepare}); everything a
 * call needs that is not the call itself (keys, ciphertexts, requests) is made there, out of the figures.
 */
enum Workload {
  TOKEN_ENCRYPT(Route.ADAPTER, Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      Aead aead = routes.adapter().aead();
      return () -> aead.encrypt(payload, null);
    }
  },
  TOKEN_DECRYPT(Route.ADAPTER, Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      Aead aead = routes.adapter().aead();
      byte[] ciphertext = aead.encrypt(payload, null);
      return () -> aead.decrypt(ciphertext, null);
    }
  },
  TOKEN_RANDOM(Route.ADAPTER, Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      AdapterRoute adapter = routes.adapter();
      int length = payload.length;
      return () -> adapter.token().generateRandom(length);
    }
  },
  TOKEN_KEYGEN(Route.ADAPTER, Payload.NONE) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      return routes.adapter()::generateAndDestroyKey;
    }
  },
  SUNPKCS11_ENCRYPT(Route.SUNPKCS11, Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      return routes.sunPkcs11().encryptCall(payload);
    }
  },
  SUNPKCS11_DECRYPT(Route.SUNPKCS11, Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      return routes.sunPkcs11().decryptCall(payload);
    }
  },
  KMS_ENCRYPT(Route.KMS, KmsOperation.ENCRYPT),
  KMS_DECRYPT(Route.KMS, KmsOperation.DECRYPT),
  KMS_GENERATE_DATA_KEY(Route.KMS, KmsOperation.GENERATE_DATA_KEY),
  HTTP_ENCRYPT(Route.HTTP, KmsOperation.ENCRYPT),
  HTTP_DECRYPT(Route.HTTP, KmsOperation.DECRYPT),
  HTTP_GENERATE_DATA_KEY(Route.HTTP, KmsOperation.GENERATE_DATA_KEY);

  /** How a workload uses the payload sizes of a sweep. */
  enum Payload {
    /** Every size asked for, up to the workload's limit. */
    SWEPT,
    /** None: the call takes no data, so it runs once per thread count, as payload 0. */
    NONE
  }

  private final Route route;
  private final Payload payload;
  private final KmsOperation kmsOperation; // null outside the KMS and HTTP routes

  Workload(Route route, Payload payload) {
    this.route = route;
    this.payload = payload;
    this.kmsOperation = null;
  }

  Workload(Route route, KmsOperation operation) {
    this.route = route;
    this.payload = Payload.SWEPT;
    this.kmsOperation = operation;
  }

  /** The name on the command line and in results, e.g. {@code token-encrypt}. */
  String id() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  Route route() {
    return route;
  }

  /** The payload sizes of {@code requested} this workload runs: sizes past what AWS KMS takes are left out. */
  ImmutableList<Integer> payloads(List<Integer> requested) {
    if (payload == Payload.NONE) {
      return ImmutableList.of(0);
    }
    int limit = kmsOperation == null ? Integer.MAX_VALUE : kmsOperation.maxPayloadBytes();
    return requested.stream().filter(bytes -> bytes <= limit).collect(ImmutableList.toImmutableList());
  }

  /** A ready call on {@code payload}; whatever it needs besides the call itself is made here. */
  Runnable prepare(Routes routes, byte[] payload) {
    return route == Route.KMS
        ? kmsOperation.inProcess(routes.keyhold().crypto(), routes.keyhold().keyId(), payload)
        : kmsOperation.overHttp(routes.http().client(), routes.http().keyId(), payload);
  }

  /** Parses a workload's {@linkplain #id() id}. */
  static Workload of(String id) {
    for (Workload workload : values()) {
      if (workload.id().equals(id)) {
        return workload;
      }
    }
    throw new IllegalArgumentException("no workload '" + id + "'");
  }
}
