package dev.keyhold.bench.harness;

import java.util.Locale;

/** The ways to the token that {@code keyhold-bench} compares, from the barest to the whole service. */
enum Route {
  /**
   * A small C program that calls the token's PKCS#11 library directly, compiled for the run: the
   * token's own limit on this machine, which every other route is measured against.
   */
  RAW_C,
  /** Keyhold's PKCS#11 adapter (ipkcs11wrapper, JNI) on the token under test. */
  ADAPTER,
  /** The JDK's SunPKCS11 provider on the same token: what a Java user would otherwise pick. */
  SUNPKCS11,
  /** Keyhold's KMS operations in process, on a local 2-HSM SoftHSM2 cluster. */
  KMS,
  /** Keyhold's KMS API over HTTP, called with the AWS SDK for Java v2. */
  HTTP;

  /** The name in results, e.g. {@code sunpkcs11} or {@code raw-c}. */
  String id() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }
}
