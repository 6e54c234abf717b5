package dev.keyhold.softhsm;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.security.SecureRandom;
import java.util.regex.Pattern;

/**
 * A cluster id in AWS CloudHSM's form: {@code cluster-} and 11 to 16 base32 characters ({@code a-z},
 * {@code 2-7}). Each HSM of a local cluster is a SoftHSM2 token labelled {@link #tokenLabel}.
 */
public final class ClusterId {
  private static final Pattern FORMAT = Pattern.compile("cluster-[a-z2-7]{11,16}");
  private static final String BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
  /** A token label holds at most 32 characters; {@code cluster-} + 16 + {@code /hsm} + 2 digits fits. */
  public static final int MAX_HSMS = 99;

  private final String value;

  private ClusterId(String value) {
    this.value = value;
  }

  public static ClusterId of(String value) {
    checkNotNull(value, "value");
    checkArgument(FORMAT.matcher(value).matches(),
        "a cluster id is 'cluster-' and 11 to 16 characters of a-z and 2-7: '%s'", value);
    return new ClusterId(value);
  }

  public static ClusterId random(SecureRandom random) {
    StringBuilder id = new StringBuilder("cluster-");
    for (int i = 0; i < 11; i++) {
      id.append(BASE32.charAt(random.nextInt(BASE32.length())));
    }
    return new ClusterId(id.toString());
  }

  /** The label of HSM number {@code hsm} (from 1): {@code <cluster id>/hsm<n>}. */
  public String tokenLabel(int hsm) {
    checkArgument(hsm >= 1 && hsm <= MAX_HSMS, "HSM number must be 1 to %s: %s", MAX_HSMS, hsm);
    return value + "/hsm" + hsm;
  }

  /** Labels of HSMs 1 to {@code hsms}. */
  public ImmutableList<String> tokenLabels(int hsms) {
    ImmutableList.Builder<String> labels = ImmutableList.builder();
    for (int hsm = 1; hsm <= hsms; hsm++) {
      labels.add(tokenLabel(hsm));
    }
    return labels.build();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ClusterId other && other.value.equals(value);
  }

  @Override
  public int hashCode() {
    return value.hashCode();
  }

  @Override
  public String toString() {
    return value;
  }
}
