package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.ClusterHealth;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Collection;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The service's Prometheus metrics, for {@code /metrics}:
 *
 * <ul>
 *   <li>{@code keyhold_requests_total{operation,outcome}}: answered requests; {@code outcome} is
 *       {@code success} or the error type sent;
 *   <li>{@code keyhold_request_duration_seconds{operation}}: a histogram of how long requests took;
 *   <li>{@code keyhold_hsm_sessions_in_use{key_store,hsm}}: PKCS#11 sessions handed out, per HSM of
 *       each connected key store;
 *   <li>{@code keyhold_hsm_health{key_store,hsm}}: 1 ACTIVE, 0 DEGRADED;
 *   <li>{@code keyhold_hsm_keys_missing{key_store,hsm}}: the store's KMS keys the HSM lacks;
 *   <li>{@code keyhold_cluster_health{key_store,cluster}}: 1 ACTIVE, 0.5 DEGRADED, 0 UNAVAILABLE;
 *   <li>{@code keyhold_keys_without_material{key_store}}: KMS keys whose material no HSM holds;
 *   <li>{@code keyhold_orphaned_key_material{key_store}}: material labelled as a KMS key that no key owns.
 * </ul>
 *
 * The HSM and cluster gauges are read when scraped, from the reconciler's last findings ({@link
 * KeyReplication#health()}) and the live sessions: nothing to keep in step, and a store that
 * disconnects leaves no stale series behind.
 *
 * <p>The metrics live in a registry of their own, not the library's global default, so that two
 * instances (tests, two servers in one JVM) never collide.
 *
 * <p>Thread-safe.
 */
public final class ServiceMetrics implements RequestObserver {
  /** The content type of {@link #writeTo}: Prometheus text format 0.0.4. */
  public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

  /**
   * 0.1 ms to 10 s in 1-2.5-5 steps: an HSM call takes a fraction of a millisecond, a request a few
   * (the target p99 is 10 ms), and a hung HSM holds a caller up to its library's own timeout.
   */
  private static final double[] DURATION_BUCKETS = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
  };

  private static final PrometheusTextFormatWriter TEXT_FORMAT = PrometheusTextFormatWriter.create();

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final Counter requests;
  private final Histogram durations;

  /**
   * @param node the name of the node that serves
   * @param roles the roles it holds now, as {@link Keyhold#roles()}
   * @param health the cluster health of the connected key stores, as {@link KeyReplication#health()}
   * @param sessions the sessions in use on each HSM, as {@link SessionsInUse#of}
   */
  public ServiceMetrics(
      String node,
      Supplier<? extends Collection<String>> roles,
      Supplier<? extends Collection<ClusterHealth>> health,
      Supplier<? extends Collection<SessionsInUse>> sessions) {
    checkNotNull(node, "node");
    checkNotNull(roles, "roles");
    checkNotNull(health, "health");
    checkNotNull(sessions, "sessions");
    GaugeWithCallback.builder()
        .name("keyhold_node_role")
        .help("The roles this node holds now (1), such as keyhold_background: the background work that changes things.")
        .labelNames("node", "role")
        .callback(gauge -> roles.get().forEach(role -> gauge.call(1, node, role)))
        .register(registry);
    // Without exemplars: the 0.0.4 text format carries none, and sampling them costs on every request.
    requests = Counter.builder()
        .name("keyhold_requests_total")
        .help("Requests answered, by operation and outcome (success or the error type).")
        .labelNames("operation", "outcome")
        .withoutExemplars()
        .register(registry);
    durations = Histogram.builder()
        .name("keyhold_request_duration_seconds")
        .help("How long requests took, from receipt to answer, by operation.")
        .labelNames("operation")
        .classicOnly()
        .classicUpperBounds(DURATION_BUCKETS)
        .withoutExemplars()
        .register(registry);
    GaugeWithCallback.builder()
        .name("keyhold_hsm_sessions_in_use")
        .help("PKCS#11 sessions handed out now, per HSM of each connected key store.")
        .labelNames("key_store", "hsm")
        .callback(gauge -> sessions.get().forEach(hsm -> gauge.call(hsm.sessions(), hsm.keyStoreId(), hsm.hsmId())))
        .register(registry);
    registerHsmGauge("keyhold_hsm_health", "Whether the HSM answered the reconciler's last probe: 1 ACTIVE, 0 DEGRADED.",
        health, hsm -> hsm.state() == ClusterHealth.State.ACTIVE ? 1 : 0);
    registerHsmGauge("keyhold_hsm_keys_missing", "KMS keys of the key store that the HSM lacks, as last listed.",
        health, ClusterHealth.Hsm::keysMissing);
    GaugeWithCallback.builder()
        .name("keyhold_cluster_health")
        .help("Health of each connected key store's cluster: 1 ACTIVE, 0.5 DEGRADED, 0 UNAVAILABLE.")
        .labelNames("key_store", "cluster")
        .callback(gauge -> health.get().forEach(
            store -> gauge.call(clusterValue(store.state()), store.customKeyStoreId(), store.clusterId())))
        .register(registry);
    registerStoreGauge("keyhold_keys_without_material",
        "KMS keys of the key store whose material no HSM holds (their calls fail), as last listed.",
        health, store -> store.keysWithoutMaterial().size());
    registerStoreGauge("keyhold_orphaned_key_material",
        "Key material on the store's HSMs labelled as a KMS key of the account that no key owns, as last listed.",
        health, store -> store.orphanedMaterial().size());
  }

  /** Metrics over a running Keyhold: its node, reconciler and connections. */
  public static ServiceMetrics create(Keyhold keyhold) {
    checkNotNull(keyhold, "keyhold");
    return new ServiceMetrics(keyhold.nodeName(), keyhold::roles, keyhold.replication()::health,
        () -> SessionsInUse.of(keyhold.connections()));
  }

  @Override
  public void completed(RequestOutcome outcome) {
    requests.labelValues(outcome.operation(), outcome.outcomeName()).inc();
    durations.labelValues(outcome.operation()).observe(Unit.nanosToSeconds(outcome.durationNanos()));
  }

  /** Writes every metric, as of now, in the Prometheus text format ({@link #CONTENT_TYPE}). */
  public void writeTo(OutputStream out) throws IOException {
    TEXT_FORMAT.write(out, registry.scrape());
  }

  private void registerHsmGauge(String name, String help, Supplier<? extends Collection<ClusterHealth>> health,
      ToDoubleFunction<ClusterHealth.Hsm> value) {
    GaugeWithCallback.builder()
        .name(name)
        .help(help)
        .labelNames("key_store", "hsm")
        .callback(gauge -> health.get().forEach(store -> store.hsms().forEach(
            hsm -> gauge.call(value.applyAsDouble(hsm), store.customKeyStoreId(), hsm.hsmId()))))
        .register(registry);
  }

  private void registerStoreGauge(String name, String help, Supplier<? extends Collection<ClusterHealth>> health,
      ToDoubleFunction<ClusterHealth> value) {
    GaugeWithCallback.builder()
        .name(name)
        .help(help)
        .labelNames("key_store")
        .callback(gauge -> health.get().forEach(store -> gauge.call(value.applyAsDouble(store), store.customKeyStoreId())))
        .register(registry);
  }

  private static double clusterValue(ClusterHealth.State state) {
    return switch (state) {
      case ACTIVE -> 1;
      case DEGRADED -> 0.5;
      case UNAVAILABLE -> 0;
    };
  }

  /** The PKCS#11 sessions one HSM of a connected key store has handed out at a moment. */
  public record SessionsInUse(String keyStoreId, String hsmId, int sessions) {
    public SessionsInUse {
      checkNotNull(keyStoreId, "keyStoreId");
      checkNotNull(hsmId, "hsmId");
    }

    /** Now, for every HSM of every store connected. */
    public static ImmutableList<SessionsInUse> of(KeyStoreConnections connections) {
      ImmutableList.Builder<SessionsInUse> all = ImmutableList.builder();
      for (String storeId : connections.connectedStoreIds()) {
        // Empty if the store disconnected since it was listed.
        connections.connected(storeId).ifPresent(store -> store.hsms().forEach(
            hsm -> all.add(new SessionsInUse(storeId, hsm.hsmId(), hsm.token().sessionsInUse()))));
      }
      return all.build();
    }
  }
}
