package dev.keyhold.softhsm;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableList;
import com.google.common.hash.Hashing;
import com.google.common.io.BaseEncoding;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.cluster.TrustAnchor;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Provisions a local cluster whole: its SoftHSM2 tokens (through {@link ClusterProvisioner}), its
 * trust anchor, and its entry in the clusters file that the service reads.
 *
 * <p>Idempotent like the tokens: a cluster already in the file keeps its trust anchor and its HSM
 * ids, which are derived from the token labels; other clusters in the file are left as they are.
 */
public final class LocalClusterProvisioner {
  /** The clusters file's name in a SoftHSM2 directory. */
  public static final String CLUSTERS_FILE = "clusters.json";

  private static final BaseEncoding BASE32 = BaseEncoding.base32().lowerCase().omitPadding();
  /** CloudHSM's HSM ids carry 11 base32 characters. */
  private static final int HSM_ID_LENGTH = 11;

  private final Pkcs11Module module;
  private final Path clustersFile;

  public LocalClusterProvisioner(Pkcs11Module module, Path clustersFile) {
    this.module = checkNotNull(module, "module");
    this.clustersFile = checkNotNull(clustersFile, "clustersFile");
  }

  /** What one {@link #provision} call found and did. */
  public record Outcome(Cluster cluster, ImmutableList<String> initialisedTokens, boolean trustAnchorIssued) {}

  /**
   * Makes sure HSMs 1 to {@code hsms} of {@code cluster} exist and records the cluster in the
   * clusters file. A cluster new to the file gets a fresh trust anchor or, given {@code fromBackupOf},
   * that cluster's: as if restored from its backup, so the two share backup history.
   *
   * <p>Everything is checked before any token is touched, so a refused call changes nothing.
   *
   * @throws IllegalArgumentException if {@code fromBackupOf} is not in the clusters file, is
   *     {@code cluster} itself, or {@code cluster} is already in the file with another trust anchor
   * @throws dev.keyhold.cluster.InvalidClusterFileException if the clusters file is invalid
   */
  public Outcome provision(ClusterId cluster, int hsms, Optional<ClusterId> fromBackupOf, Pin soPin, Pin kmsuserPin) {
    checkNotNull(cluster, "cluster");
    checkNotNull(fromBackupOf, "fromBackupOf");
    ClusterRegistry registry = ClusterFile.read(clustersFile);
    Optional<Cluster> existing = registry.find(cluster.toString());
    Optional<TrustAnchor> known = fromBackupOf.isPresent()
        ? Optional.of(sharedTrustAnchor(registry, cluster, fromBackupOf.get(), existing))
        : existing.map(Cluster::trustAnchor);
    TrustAnchor trustAnchor = known.orElseGet(() -> TrustAnchor.of(TrustAnchorAuthority.create(cluster.toString())));

    // Keep HSMs recorded earlier, e.g. HSM 3 when this run asks for 2: their tokens were not wiped.
    Map<String, Hsm> byId = new LinkedHashMap<>();
    existing.ifPresent(recorded -> recorded.hsms().forEach(hsm -> byId.put(hsm.hsmId(), hsm)));
    for (String label : cluster.tokenLabels(hsms)) {
      byId.put(hsmId(label), Hsm.of(hsmId(label), module.library(), label, TokenProfile.SOFTHSM2, HsmState.ACTIVE));
    }
    Cluster provisioned = Cluster.of(cluster.toString(), ImmutableList.copyOf(byId.values()), trustAnchor);
    ClusterRegistry updated = registry.with(provisioned);

    ImmutableList<String> initialised = new ClusterProvisioner(module).provision(cluster, hsms, soPin, kmsuserPin);
    ClusterFile.write(clustersFile, updated);
    return new Outcome(provisioned, initialised, known.isEmpty());
  }

  private TrustAnchor sharedTrustAnchor(ClusterRegistry registry, ClusterId cluster, ClusterId source,
      Optional<Cluster> existing) {
    checkArgument(!source.equals(cluster), "cluster %s cannot be restored from a backup of itself", cluster);
    TrustAnchor shared = registry.find(source.toString())
        .orElseThrow(() -> new IllegalArgumentException("cluster " + source + " is not in " + clustersFile
            + ", so there is no backup of it to restore " + cluster + " from"))
        .trustAnchor();
    checkArgument(existing.isEmpty() || existing.get().trustAnchor().equals(shared),
        "cluster %s is already in %s with a trust anchor of its own; it does not share backup history with %s",
        cluster, clustersFile, source);
    return shared;
  }

  /**
   * A stable id for the HSM behind {@code tokenLabel}: {@code hsm-} and the first 11 base32
   * characters of the label's SHA-256, so every run gives the same id without storing a counter.
   */
  static String hsmId(String tokenLabel) {
    return "hsm-" + BASE32.encode(Hashing.sha256().hashString(tokenLabel, UTF_8).asBytes()).substring(0, HSM_ID_LENGTH);
  }
}
