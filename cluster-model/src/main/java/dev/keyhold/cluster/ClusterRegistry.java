package dev.keyhold.cluster;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.common.collect.Maps;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The clusters the service knows, as read from the clusters file ({@link ClusterFile}). Immutable;
 * {@link #with} and {@link #without} give changed copies. As {@link Clusters}, it never changes.
 *
 * <p>Ids are unique across the whole registry, and a token belongs to one cluster only: two clusters
 * naming the same module and token label would put each other's keys in the same HSM.
 */
public final class ClusterRegistry implements Clusters {
  private static final ClusterRegistry EMPTY = new ClusterRegistry(ImmutableMap.of());

  private final ImmutableMap<String, Cluster> clusters; // by id, in the order given

  private ClusterRegistry(ImmutableMap<String, Cluster> clusters) {
    this.clusters = clusters;
  }

  public static ClusterRegistry empty() {
    return EMPTY;
  }

  /**
   * A registry of {@code clusters}, in the order given.
   *
   * @throws IllegalArgumentException if two clusters share a cluster id, an HSM id or a token
   */
  public static ClusterRegistry of(Collection<Cluster> clusters) {
    checkNotNull(clusters, "clusters");
    Map<String, Cluster> byId = new LinkedHashMap<>();
    Map<String, String> clusterOfHsm = new HashMap<>();
    Map<TokenRef, String> clusterOfToken = new HashMap<>();
    for (Cluster cluster : clusters) {
      checkNotNull(cluster, "cluster");
      String id = cluster.clusterId();
      checkArgument(byId.put(id, cluster) == null, "cluster id '%s' appears twice", id);
      for (Hsm hsm : cluster.hsms()) {
        String other = clusterOfHsm.putIfAbsent(hsm.hsmId(), id);
        checkArgument(other == null, "HSM id '%s' appears in cluster %s and in cluster %s", hsm.hsmId(), other, id);
        TokenRef token = new TokenRef(hsm.module(), hsm.tokenLabel());
        // Within one cluster a shared token is normal: CloudHSM shows all of a cluster's HSMs as one slot.
        other = clusterOfToken.putIfAbsent(token, id);
        checkArgument(other == null || other.equals(id),
            "token '%s' of module %s belongs to cluster %s and to cluster %s (%s); a token holds one cluster's keys",
            hsm.tokenLabel(), hsm.module(), other, id, hsm.hsmId());
      }
    }
    return new ClusterRegistry(ImmutableMap.copyOf(byId));
  }

  /** This registry: it never changes. */
  @Override
  public ClusterRegistry current() {
    return this;
  }

  public Optional<Cluster> find(String clusterId) {
    return Optional.ofNullable(clusters.get(checkNotNull(clusterId, "clusterId")));
  }

  /** Every cluster, in the order of the file. */
  public ImmutableList<Cluster> all() {
    return clusters.values().asList();
  }

  /**
   * This registry with {@code cluster} in place of the one with its id, or added at the end; the
   * other clusters stay as they are.
   *
   * @throws IllegalArgumentException as {@link #of} does
   */
  public ClusterRegistry with(Cluster cluster) {
    checkNotNull(cluster, "cluster");
    Map<String, Cluster> changed = new LinkedHashMap<>(clusters);
    changed.put(cluster.clusterId(), cluster);
    return of(changed.values());
  }

  /** This registry without the cluster {@code clusterId}, if it has one; removing breaks no rule. */
  public ClusterRegistry without(String clusterId) {
    checkNotNull(clusterId, "clusterId");
    return new ClusterRegistry(ImmutableMap.copyOf(Maps.filterKeys(clusters, id -> !id.equals(clusterId))));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ClusterRegistry other && other.clusters.equals(clusters);
  }

  @Override
  public int hashCode() {
    return clusters.hashCode();
  }

  @Override
  public String toString() {
    return "ClusterRegistry" + clusters.values();
  }

  private record TokenRef(Path module, String label) {}
}
