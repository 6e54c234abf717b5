package dev.keyhold.pkcs11;

import java.util.stream.Stream;

/** The call paths a test runs on ({@link OnEachCallPath}). */
final class CallPaths {
  private CallPaths() {}

  /** The wrapper's calls, and {@code module}'s own where they take another path. */
  static Stream<CryptoCalls> of(Pkcs11Module module) {
    return Stream.of(WrapperCryptoCalls.INSTANCE, module.cryptoCalls()).distinct();
  }
}
