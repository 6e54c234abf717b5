package dev.keyhold.server.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import dev.keyhold.kms.key.ClusterHealth;
import dev.keyhold.kms.key.ClusterHealth.State;
import dev.keyhold.server.ops.ServiceMetrics.SessionsInUse;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ServiceMetricsTest {
  private static final String STORE = "cks-1234567890abcdef0";
  private static final String CLUSTER = "cluster-abcdefghijk";

  private final AtomicReference<List<ClusterHealth>> health = new AtomicReference<>(List.of());
  private final AtomicReference<List<SessionsInUse>> sessions = new AtomicReference<>(List.of());
  private final ServiceMetrics metrics = new ServiceMetrics("node-1", List::of, health::get, sessions::get);

  @Test
  void countsRequestsByOperationAndOutcome() throws IOException {
    metrics.completed(Outcomes.encrypt("request-1", List.of(), Duration.ofMillis(1)));
    metrics.completed(Outcomes.encrypt("request-2", List.of(), Duration.ofMillis(1)));
    metrics.completed(Outcomes.failed("Encrypt", "AccessDeniedException", 400, Duration.ofMillis(1)));
    metrics.completed(Outcomes.failed("Decrypt", "InvalidCiphertextException", 400, Duration.ofMillis(1)));

    Exposition scrape = Exposition.scrape(metrics);

    assertThat(scrape.comments()).contains("# TYPE keyhold_requests_total counter");
    assertThat(scrape.named("keyhold_requests_total")).hasSize(3);
    assertThat(scrape.value("keyhold_requests_total", Map.of("operation", "Encrypt", "outcome", "success")))
        .hasValue(2);
    assertThat(scrape.value("keyhold_requests_total", Map.of("operation", "Encrypt", "outcome", "AccessDeniedException")))
        .hasValue(1);
    assertThat(scrape.value("keyhold_requests_total", Map.of("operation", "Decrypt", "outcome", "InvalidCiphertextException")))
        .hasValue(1);
  }

  @Test
  void recordsDurationsInBucketsFromATenthOfAMillisecondToTenSeconds() throws IOException {
    metrics.completed(Outcomes.encrypt("fast", List.of(), Duration.ofNanos(50_000)));
    metrics.completed(Outcomes.encrypt("usual", List.of(), Duration.ofMillis(3)));
    metrics.completed(Outcomes.encrypt("hung", List.of(), Duration.ofSeconds(20)));

    Exposition scrape = Exposition.scrape(metrics);

    assertThat(scrape.comments()).contains("# TYPE keyhold_request_duration_seconds histogram");
    assertThat(scrape.named("keyhold_request_duration_seconds_bucket"))
        .extracting(sample -> sample.labels().get("le"))
        .containsExactly("1.0E-4", "2.5E-4", "5.0E-4", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
            "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf");
    assertThat(bucket(scrape, "1.0E-4")).isEqualTo(1);
    assertThat(bucket(scrape, "0.0025")).isEqualTo(1);
    assertThat(bucket(scrape, "0.005")).isEqualTo(2);
    assertThat(bucket(scrape, "10.0")).isEqualTo(2);
    assertThat(bucket(scrape, "+Inf")).isEqualTo(3);
    assertThat(scrape.value("keyhold_request_duration_seconds_count", Map.of("operation", "Encrypt"))).hasValue(3);
    assertThat(scrape.value("keyhold_request_duration_seconds_sum", Map.of("operation", "Encrypt")).getAsDouble())
        .isCloseTo(20.00305, offset(1e-9));
  }

  @Test
  void gaugesShowTheHealthAndSessionsSuppliedAtScrapeTime() throws IOException {
    health.set(List.of(new ClusterHealth(STORE, CLUSTER, State.ACTIVE,
        List.of(new ClusterHealth.Hsm("hsm-1", State.ACTIVE, 0), new ClusterHealth.Hsm("hsm-2", State.ACTIVE, 0)), List.of(), List.of())));
    sessions.set(List.of(new SessionsInUse(STORE, "hsm-1", 3), new SessionsInUse(STORE, "hsm-2", 0)));

    Exposition active = Exposition.scrape(metrics);

    assertThat(active.value("keyhold_cluster_health", Map.of("key_store", STORE, "cluster", CLUSTER))).hasValue(1);
    assertThat(active.value("keyhold_hsm_health", hsm("hsm-1"))).hasValue(1);
    assertThat(active.value("keyhold_hsm_health", hsm("hsm-2"))).hasValue(1);
    assertThat(active.value("keyhold_hsm_keys_missing", hsm("hsm-2"))).hasValue(0);
    assertThat(active.value("keyhold_hsm_sessions_in_use", hsm("hsm-1"))).hasValue(3);
    assertThat(active.value("keyhold_hsm_sessions_in_use", hsm("hsm-2"))).hasValue(0);

    health.set(List.of(new ClusterHealth(STORE, CLUSTER, State.DEGRADED,
        List.of(new ClusterHealth.Hsm("hsm-1", State.ACTIVE, 0), new ClusterHealth.Hsm("hsm-2", State.DEGRADED, 7)),
        List.of("arn:aws:kms:us-east-1:111122223333:key/bare"), List.of())));

    Exposition degraded = Exposition.scrape(metrics);

    assertThat(degraded.value("keyhold_cluster_health", Map.of("key_store", STORE, "cluster", CLUSTER))).hasValue(0.5);
    assertThat(degraded.value("keyhold_hsm_health", hsm("hsm-1"))).hasValue(1);
    assertThat(degraded.value("keyhold_hsm_health", hsm("hsm-2"))).hasValue(0);
    assertThat(degraded.value("keyhold_hsm_keys_missing", hsm("hsm-2"))).hasValue(7);
    assertThat(degraded.value("keyhold_keys_without_material", Map.of("key_store", STORE))).hasValue(1);
    assertThat(degraded.value("keyhold_orphaned_key_material", Map.of("key_store", STORE))).hasValue(0);

    health.set(List.of(new ClusterHealth(STORE, CLUSTER, State.UNAVAILABLE,
        List.of(new ClusterHealth.Hsm("hsm-1", State.DEGRADED, 0), new ClusterHealth.Hsm("hsm-2", State.DEGRADED, 7)), List.of(), List.of())));

    Exposition unavailable = Exposition.scrape(metrics);

    assertThat(unavailable.value("keyhold_cluster_health", Map.of("key_store", STORE, "cluster", CLUSTER))).hasValue(0);
    assertThat(unavailable.value("keyhold_hsm_health", hsm("hsm-1"))).hasValue(0);
  }

  @Test
  void aStoreNoLongerConnectedLeavesNoSeries() throws IOException {
    health.set(List.of(new ClusterHealth(STORE, CLUSTER, State.ACTIVE, List.of(new ClusterHealth.Hsm("hsm-1", State.ACTIVE, 0)), List.of(), List.of())));
    sessions.set(List.of(new SessionsInUse(STORE, "hsm-1", 1)));
    assertThat(Exposition.scrape(metrics).named("keyhold_cluster_health")).hasSize(1);

    health.set(List.of());
    sessions.set(List.of());

    Exposition scrape = Exposition.scrape(metrics);
    for (String gauge : List.of("keyhold_cluster_health", "keyhold_hsm_health", "keyhold_hsm_keys_missing",
        "keyhold_hsm_sessions_in_use")) {
      assertThat(scrape.named(gauge)).as(gauge).isEmpty();
    }
  }

  @Test
  void eachInstanceHasItsOwnRegistry() throws IOException {
    ServiceMetrics other = new ServiceMetrics("node-2", List::of, List::of, List::of);

    metrics.completed(Outcomes.encrypt("request-1", List.of(), Duration.ofMillis(1)));

    assertThat(Exposition.scrape(metrics).named("keyhold_requests_total")).hasSize(1);
    assertThat(Exposition.scrape(other).named("keyhold_requests_total")).isEmpty();
  }

  @Test
  void speaksTheTextFormatVersion004() {
    assertThat(ServiceMetrics.CONTENT_TYPE).isEqualTo("text/plain; version=0.0.4; charset=utf-8");
  }

  private static Map<String, String> hsm(String hsmId) {
    return Map.of("key_store", STORE, "hsm", hsmId);
  }

  private static double bucket(Exposition scrape, String le) {
    return scrape.value("keyhold_request_duration_seconds_bucket", Map.of("operation", "Encrypt", "le", le))
        .getAsDouble();
  }
}
