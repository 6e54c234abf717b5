package dev.keyhold.bench.harness;

/** The ways to the token that {@code keyhold-bench} compares, from the barest to the whole service. */
enum Route {
  ADAPTER("adapter", "Keyhold's PKCS#11 adapter (ipkcs11wrapper, JNI) on the token under test"),
  SUNPKCS11("sunpkcs11", "the JDK's SunPKCS11 provider on the same token: what a Java user would otherwise pick"),
  KMS("kms", "Keyhold's KMS operations in process, on a local 2-HSM SoftHSM2 cluster"),
  HTTP("http", "Keyhold's KMS API over HTTP, called with the AWS SDK for Java v2");

  private final String id;
  private final String description;

  Route(String id, String description) {
    this.id = id;
    this.description = description;
  }

  String id() {
    return id;
  }

  String description() {
    return description;
  }
}
