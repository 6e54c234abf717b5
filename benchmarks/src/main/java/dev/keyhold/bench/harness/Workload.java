package dev.keyhold.bench.harness;

import com.google.common.collect.ImmutableList;
import dev.keyhold.bench.KmsOperation;
import dev.keyhold.pkcs11.Aead;
import java.util.List;

/**
 * What {@code keyhold-bench} can measure: one kind of call by one route. A workload turns a payload
 * into a ready call ({@link #prepare}); everything a call needs that is not the call itself (keys,
 * ciphertexts, requests) is made there, out of the figures.
 */
enum Workload {
  TOKEN_ENCRYPT(Route.ADAPTER, "AES-256-GCM encrypt: C_EncryptInit + C_Encrypt", Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      Aead aead = routes.adapter().aead();
      return () -> aead.encrypt(payload, null);
    }
  },
  TOKEN_DECRYPT(Route.ADAPTER, "AES-256-GCM decrypt (tag checked): C_DecryptInit + C_Decrypt", Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      Aead aead = routes.adapter().aead();
      byte[] ciphertext = aead.encrypt(payload, null);
      return () -> aead.decrypt(ciphertext, null);
    }
  },
  TOKEN_RANDOM(Route.ADAPTER, "C_GenerateRandom of the payload's size", Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      AdapterRoute adapter = routes.adapter();
      int length = payload.length;
      return () -> adapter.token().generateRandom(length);
    }
  },
  TOKEN_KEYGEN(Route.ADAPTER, "persistent AES-256 key: C_GenerateKey, then C_DestroyObject", Payload.NONE) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      return routes.adapter()::generateAndDestroyKey;
    }
  },
  SUNPKCS11_ENCRYPT(Route.SUNPKCS11, "AES/GCM/NoPadding encrypt: Cipher.init + doFinal", Payload.SWEPT) {
    @Override
    Runnable prepare(Routes routes, byte[] payload) {
      return routes.sunPkcs11().encryptCall(payload);
    }
  },
  SUNPKCS11_DECRYPT(Route.SUNPKCS11, "AES/GCM/NoPadding decrypt: Cipher.init + doFinal", Payload.SWEPT) {
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
  private final String description;
  private final Payload payload;
  private final KmsOperation kmsOperation; // null outside the KMS and HTTP routes

  Workload(Route route, String description, Payload payload) {
    this.route = route;
    this.description = description;
    this.payload = payload;
    this.kmsOperation = null;
  }

  Workload(Route route, KmsOperation operation) {
    this.route = route;
    this.description = operation.apiName() + (route == Route.KMS
        ? " on KmsCrypto in process (no HTTP, SigV4, policy or audit)"
        : " over HTTP with the AWS SDK's KmsClient (SigV4, key policy, audit)");
    this.payload = Payload.SWEPT;
    this.kmsOperation = operation;
  }

  /** The name on the command line and in results, e.g. {@code token-encrypt}. */
  String id() {
    return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
  }

  Route route() {
    return route;
  }

  String description() {
    return description;
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
