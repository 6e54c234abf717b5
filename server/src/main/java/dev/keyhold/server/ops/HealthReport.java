package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSortedSet;
import dev.keyhold.kms.key.ClusterHealth;
import dev.keyhold.kms.key.KeyMaterialReport;
import dev.keyhold.kms.key.KeyReplication;
import java.io.UncheckedIOException;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * The answer to {@code /health}: the node that answers and the roles it holds, and the cluster health
 * of every connected key store, as the reconciler last found it ({@link KeyReplication#health()}).
 *
 * <pre>{@code
 * {"node":"node-1","roles":["keyhold_background"],"status":"DEGRADED","keyStoresChecked":1,
 *  "keyStores":[{"id":"cks-...","cluster":"cluster-...",
 *  "state":"DEGRADED","hsms":[{"hsmId":"hsm-...","state":"DEGRADED","keysMissing":3}, ...],
 *  "keysWithoutMaterial":["arn:aws:kms:..."],"orphanedMaterial":[{"hsmId":"hsm-...","label":"arn:..."}]}]}
 * }</pre>
 *
 * {@code status} is the worst of the stores' states. With no store reported it is {@code ACTIVE} and
 * {@code keyStoresChecked} is 0: the service itself is up, and a key store left disconnected is the
 * operator's choice (DescribeCustomKeyStores tells), not a fault. The field counts stores checked rather
 * than connected because a store appears only after the reconciler's first pass over it; it is there so
 * a monitor can tell "nothing to serve" from "all well" without counting the list.
 *
 * <p>The HTTP status is 200 unless the status is UNAVAILABLE, then 503, so that a load balancer sends
 * callers elsewhere while no HSM answers; a DEGRADED cluster still serves every call.
 */
public final class HealthReport {
  private static final ObjectWriter JSON = new ObjectMapper().writerFor(Body.class);

  private final String node;
  private final ImmutableSortedSet<String> roles;
  private final ClusterHealth.State status;
  private final ImmutableList<ClusterHealth> keyStores;

  private HealthReport(String node, ImmutableSortedSet<String> roles, ClusterHealth.State status,
      ImmutableList<ClusterHealth> keyStores) {
    this.node = node;
    this.roles = roles;
    this.status = status;
    this.keyStores = keyStores;
  }

  /**
   * The report of the node {@code node}, holding {@code roles}, on {@code keyStores}, e.g.
   * {@link KeyReplication#health()}.
   */
  public static HealthReport of(String node, Set<String> roles, Collection<ClusterHealth> keyStores) {
    checkNotNull(node, "node");
    checkNotNull(roles, "roles");
    checkNotNull(keyStores, "keyStores");
    // Sorted, so that the body does not change order from one call to the next.
    ImmutableList<ClusterHealth> sorted = ImmutableList.sortedCopyOf(
        Comparator.comparing(ClusterHealth::customKeyStoreId), keyStores);
    // ClusterHealth.State is declared from best to worst.
    ClusterHealth.State worst = sorted.stream()
        .map(ClusterHealth::state)
        .max(Comparator.naturalOrder())
        .orElse(ClusterHealth.State.ACTIVE);
    return new HealthReport(node, ImmutableSortedSet.copyOf(roles), worst, sorted);
  }

  public ClusterHealth.State status() {
    return status;
  }

  /** 200, or 503 when UNAVAILABLE. */
  public int httpStatus() {
    return status == ClusterHealth.State.UNAVAILABLE ? 503 : 200;
  }

  /** The JSON body. */
  public String toJson() {
    try {
      return JSON.writeValueAsString(Body.of(this));
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException("cannot render the health report", e); // plain records: cannot happen
    }
  }

  /** The JSON of the whole body; its components are the documented fields, in order. */
  private record Body(String node, List<String> roles, ClusterHealth.State status, int keyStoresChecked,
      List<Store> keyStores) {
    static Body of(HealthReport report) {
      return new Body(report.node, report.roles.asList(), report.status, report.keyStores.size(),
          report.keyStores.stream().map(Store::of).toList());
    }
  }

  /**
   * The JSON of one key store; its HSMs are {@link ClusterHealth.Hsm}s as they are (hsmId, state,
   * keysMissing), its orphans {@link KeyMaterialReport.Orphan}s (hsmId, label).
   */
  private record Store(String id, String cluster, ClusterHealth.State state, List<ClusterHealth.Hsm> hsms,
      List<String> keysWithoutMaterial, List<KeyMaterialReport.Orphan> orphanedMaterial) {
    static Store of(ClusterHealth health) {
      return new Store(health.customKeyStoreId(), health.clusterId(), health.state(), health.hsms(),
          health.keysWithoutMaterial(), health.orphanedMaterial());
    }
  }
}
