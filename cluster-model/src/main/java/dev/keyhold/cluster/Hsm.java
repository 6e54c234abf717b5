package dev.keyhold.cluster;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Path;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One HSM of a cluster: where to reach it (a PKCS#11 library and the label of its token) and whether
 * it is up. The id has AWS CloudHSM's form, {@code hsm-} and 11 to 16 base32 characters.
 *
 * <p>Under AWS CloudHSM the client library shows a whole cluster as one slot and balances over its
 * HSMs itself, so every HSM of such a cluster names the same module and token label.
 */
public final class Hsm {
  private static final Pattern ID = Pattern.compile("hsm-[a-z2-7]{11,16}");
  /** {@code CK_TOKEN_INFO.label} holds 32 blank-padded characters. */
  private static final int MAX_LABEL_LENGTH = 32;

  private final String hsmId;
  private final Path module;
  private final String tokenLabel;
  private final TokenProfile profile;
  private final HsmState state;

  private Hsm(String hsmId, Path module, String tokenLabel, TokenProfile profile, HsmState state) {
    this.hsmId = hsmId;
    this.module = module;
    this.tokenLabel = tokenLabel;
    this.profile = profile;
    this.state = state;
  }

  /**
   * The HSM {@code hsmId}, reached through the token {@code tokenLabel} of the library {@code module}.
   *
   * @throws IllegalArgumentException if the id is malformed, the module path is relative (it would
   *     depend on the service's working directory) or the label cannot be a PKCS#11 token label
   */
  public static Hsm of(String hsmId, Path module, String tokenLabel, TokenProfile profile, HsmState state) {
    checkNotNull(hsmId, "hsmId");
    checkNotNull(module, "module");
    checkNotNull(tokenLabel, "tokenLabel");
    checkNotNull(profile, "profile");
    checkNotNull(state, "state");
    checkArgument(ID.matcher(hsmId).matches(),
        "an HSM id is 'hsm-' and 11 to 16 characters of a-z and 2-7: '%s'", hsmId);
    checkArgument(module.isAbsolute(), "the PKCS#11 module of %s must be an absolute path: '%s'", hsmId, module);
    // The adapter compares labels with their blank padding trimmed, so outer blanks could never match.
    checkArgument(
        !tokenLabel.isEmpty() && tokenLabel.length() <= MAX_LABEL_LENGTH && tokenLabel.strip().equals(tokenLabel),
        "the token label of %s must have 1 to %s characters and no outer blanks: '%s'", hsmId, MAX_LABEL_LENGTH,
        tokenLabel);
    return new Hsm(hsmId, module, tokenLabel, profile, state);
  }

  public String hsmId() {
    return hsmId;
  }

  /** The PKCS#11 library through which this HSM is reached; always absolute. */
  public Path module() {
    return module;
  }

  public String tokenLabel() {
    return tokenLabel;
  }

  public TokenProfile profile() {
    return profile;
  }

  public HsmState state() {
    return state;
  }

  /** Whether this HSM takes work: only in state {@link HsmState#ACTIVE}. */
  public boolean isActive() {
    return state == HsmState.ACTIVE;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Hsm other)) {
      return false;
    }
    return other.hsmId.equals(hsmId) && other.module.equals(module) && other.tokenLabel.equals(tokenLabel)
        && other.profile == profile && other.state == state;
  }

  @Override
  public int hashCode() {
    return Objects.hash(hsmId, module, tokenLabel, profile, state);
  }

  @Override
  public String toString() {
    return "Hsm[" + hsmId + ", " + module + ", '" + tokenLabel + "', " + profile + ", " + state + "]";
  }
}
