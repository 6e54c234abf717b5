package dev.keyhold.cluster;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.keyhold.pkcs11.AesKey;

/**
 * The name of the key that carries KMS keys between the HSMs of a cluster whose HSMs do not sync
 * keys themselves (SoftHSM2 tokens). The cluster's trust ceremony (see {@code softhsm-config})
 * places the same key, marked trusted by each token's SO, in every HSM; kmsuser finds it by this
 * name and can wrap a replicable KMS key under it and unwrap it in another HSM, never in clear.
 */
public final class TrustedWrappingKey {
  private static final String LABEL = "keyhold-trusted-wrapping-key";

  /** {@code CKA_LABEL} and {@code CKA_ID} of the key in every HSM of the cluster. */
  public static final AesKey NAME = AesKey.of(LABEL, LABEL.getBytes(US_ASCII));

  private TrustedWrappingKey() {}
}
