package dev.keyhold.bench.harness;

import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;

import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.pkcs11.Pkcs11Module;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Optional;

/**
 * The PKCS#11 token the raw C, adapter and SunPKCS11 routes run on: a library, a token label, the
 * profile of its product and the PIN {@code C_Login} takes (for CloudHSM, {@code kmsuser:password}).
 * {@link #toString} leaves the PIN out.
 *
 * @param pinVariable the environment variable the operator gave the password in, if any: no child
 *     process may inherit it
 */
record TokenUnderTest(Path library, String label, TokenProfile profile, Pin loginPin, Optional<String> pinVariable) {
  TokenUnderTest {
    checkNotNull(library, "library");
    checkNotNull(label, "label");
    checkNotNull(profile, "profile");
    checkNotNull(loginPin, "loginPin");
    checkNotNull(pinVariable, "pinVariable");
  }

  /**
   * A new SoftHSM2 token labelled {@code label} in {@code softHsm}'s token directory, with a random PIN
   * known to this process only.
   *
   * @throws IllegalStateException if the directory holds such a token already: its PIN is not ours
   */
  static TokenUnderTest throwaway(Pkcs11Module softHsm, String label) {
    checkState(!softHsm.tokenLabels().contains(label), "a token labelled '%s' is there already in %s; give a new"
        + " directory", label, softHsm.library());
    SecureRandom random = new SecureRandom();
    Pin pin = Pin.random(random, 24);
    softHsm.initializeToken(label, Pin.random(random, 24), pin);
    return new TokenUnderTest(softHsm.library(), label, TokenProfile.SOFTHSM2, pin, Optional.empty());
  }

  @Override
  public String toString() {
    return "token '" + label + "' (" + profile + ") in " + library;
  }
}
