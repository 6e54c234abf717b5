package dev.keyhold.bench.harness;

import com.google.common.collect.ImmutableList;
import dev.keyhold.bench.KmsOperation;
import dev.keyhold.bench.LoadGenerator;
import dev.keyhold.pkcs11.Aead;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * What {@code keyhold-bench} can measure: one kind of call by one route (docs/bench-harness.md says
 * what each one calls). A workload turns a payload into a ready {@link #loop}, for most workloads a
 * call in this JVM ({@link #prepare}); everything a call needs that is not the call itself (keys,
 * ciphertexts, requests) is made there, out of the figures.
 */
enum Workload {
  RAW_C_ENCRYPT(Route.RAW_C, Payload.SWEPT) {
    @Override
    Loop loop(Routes routes, LoadGenerator load, byte[] payload) {
      return routes.rawC().loop(RawCRoute.Operation.ENCRYPT, payload.length, load);
    }
  },
  RAW_C_DECRYPT(Route.RAW_C, Payload.SWEPT) {
    @Override
    Loop loop(Routes routes, LoadGenerator load, byte[] payload) {
      return routes.rawC().loop(RawCRoute.Operation.DECRYPT, payload.length, load);
    }
  },
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
  /** The operation whose raw C rate this workload's is compared with; null where there is none. */
  private final String rawCounterpart;

  Workload(Route route, Payload payload) {
    this(route, payload, null);
  }

  Workload(Route route, KmsOperation operation) {
    this(route, Payload.SWEPT, operation);
  }

  Workload(Route route, Payload payload, KmsOperation operation) {
    this.route = route;
    this.payload = payload;
    this.kmsOperation = operation;
    String name = name();
    this.rawCounterpart = name.endsWith("_ENCRYPT") ? "raw-c-encrypt" : name.endsWith("_DECRYPT") ? "raw-c-decrypt"
        : null;
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

  /**
   * The raw C workload that makes the same token calls as this one at its core (encrypt or decrypt), to
   * set its rate against; empty for calls raw C does not make.
   */
  Optional<String> rawCounterpart() {
    return Optional.ofNullable(rawCounterpart);
  }

  /** {@code payload}'s loop; whatever a call needs besides the call itself is made here. */
  Loop loop(Routes routes, LoadGenerator load, byte[] payload) {
    return Loop.inJvm(load, prepare(routes, payload));
  }

  /**
   * A ready call in this JVM on {@code payload}, for every workload but raw C's, whose {@link #loop}
   * runs in a program of its own.
   */
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
