package dev.keyhold.cluster;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A cluster of HSMs that hold the same keys, as in AWS CloudHSM: an id of the form {@code cluster-}
 * and 11 to 16 base32 characters, its HSMs, and the trust anchor certificate it was initialised with.
 *
 * <p>A cluster may have no HSMs, as a CloudHSM cluster does once all of them are deleted; its keys
 * then live on only in backups.
 */
public final class Cluster {
  private static final Pattern ID = Pattern.compile("cluster-[a-z2-7]{11,16}");

  private final String clusterId;
  private final ImmutableList<Hsm> hsms;
  private final TrustAnchor trustAnchor;
  private final Optional<CloudHsmCliConfig> cloudHsmCli;

  private Cluster(String clusterId, ImmutableList<Hsm> hsms, TrustAnchor trustAnchor,
      Optional<CloudHsmCliConfig> cloudHsmCli) {
    this.clusterId = clusterId;
    this.hsms = hsms;
    this.trustAnchor = trustAnchor;
    this.cloudHsmCli = cloudHsmCli;
  }

  /**
   * The cluster {@code clusterId} of {@code hsms}, initialised with {@code trustAnchor}.
   *
   * @throws IllegalArgumentException if the id is malformed or two HSMs share an id
   */
  public static Cluster of(String clusterId, List<Hsm> hsms, TrustAnchor trustAnchor) {
    checkNotNull(clusterId, "clusterId");
    checkNotNull(trustAnchor, "trustAnchor");
    ImmutableList<Hsm> copy = ImmutableList.copyOf(checkNotNull(hsms, "hsms"));
    checkArgument(ID.matcher(clusterId).matches(),
        "a cluster id is 'cluster-' and 11 to 16 characters of a-z and 2-7: '%s'", clusterId);
    Set<String> ids = new HashSet<>();
    for (Hsm hsm : copy) {
      checkArgument(ids.add(hsm.hsmId()), "HSM id '%s' appears twice in cluster %s", hsm.hsmId(), clusterId);
    }
    return new Cluster(clusterId, copy, trustAnchor, Optional.empty());
  }

  /** This cluster, whose kmsuser changes its password through the CloudHSM CLI {@code cli}. */
  public Cluster withCloudHsmCli(CloudHsmCliConfig cli) {
    return new Cluster(clusterId, hsms, trustAnchor, Optional.of(checkNotNull(cli, "cli")));
  }

  public String clusterId() {
    return clusterId;
  }

  /** Every HSM, whatever its state, in the order given. */
  public ImmutableList<Hsm> hsms() {
    return hsms;
  }

  /** The HSMs that take work now. */
  public ImmutableList<Hsm> activeHsms() {
    return hsms.stream().filter(Hsm::isActive).collect(ImmutableList.toImmutableList());
  }

  public TrustAnchor trustAnchor() {
    return trustAnchor;
  }

  /** The CloudHSM CLI through which kmsuser's password changes, if the cluster is an AWS CloudHSM one that names it. */
  public Optional<CloudHsmCliConfig> cloudHsmCli() {
    return cloudHsmCli;
  }

  /**
   * Whether {@code other} was initialised with the same trust anchor certificate, that is, one of the
   * two was restored from a backup of the other (or both from a common one). AWS KMS lets a key store
   * move only between clusters that share backup history, because only they can hold the same keys.
   */
  public boolean sharesBackupHistoryWith(Cluster other) {
    return checkNotNull(other, "other").trustAnchor.equals(trustAnchor);
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Cluster other)) {
      return false;
    }
    return other.clusterId.equals(clusterId) && other.hsms.equals(hsms) && other.trustAnchor.equals(trustAnchor)
        && other.cloudHsmCli.equals(cloudHsmCli);
  }

  @Override
  public int hashCode() {
    return Objects.hash(clusterId, hsms, trustAnchor, cloudHsmCli);
  }

  @Override
  public String toString() {
    return "Cluster[" + clusterId + ", " + hsms + ", " + trustAnchor + cloudHsmCli.map(cli -> ", " + cli).orElse("") + "]";
  }
}
