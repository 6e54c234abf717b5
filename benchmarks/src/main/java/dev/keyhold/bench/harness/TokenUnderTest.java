package dev.keyhold.bench.harness;

import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Path;

/**
 * The PKCS#11 token the adapter and SunPKCS11 routes run on: a library, a token label, the profile
 * of its product and the PIN {@code C_Login} takes (for CloudHSM, {@code kmsuser:password}).
 * {@link #toString} leaves the PIN out.
 */
record TokenUnderTest(Path library, String label, TokenProfile profile, Pin loginPin) {
  TokenUnderTest {
    checkNotNull(library, "library");
    checkNotNull(label, "label");
    checkNotNull(profile, "profile");
    checkNotNull(loginPin, "loginPin");
  }

  @Override
  public String toString() {
    return "token '" + label + "' (" + profile + ") in " + library;
  }
}
