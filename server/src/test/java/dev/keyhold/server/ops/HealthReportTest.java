package dev.keyhold.server.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.key.ClusterHealth;
import dev.keyhold.kms.key.ClusterHealth.Hsm;
import dev.keyhold.kms.key.ClusterHealth.State;
import dev.keyhold.kms.key.KeyMaterialReport;
import java.io.IOException;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class HealthReportTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private static final ClusterHealth ACTIVE = new ClusterHealth("cks-a", "cluster-aaaaaaaaaaa", State.ACTIVE,
      List.of(new Hsm("hsm-a1", State.ACTIVE, 0), new Hsm("hsm-a2", State.ACTIVE, 0)), List.of(), List.of());
  private static final ClusterHealth DEGRADED = new ClusterHealth("cks-b", "cluster-bbbbbbbbbbb", State.DEGRADED,
      List.of(new Hsm("hsm-b1", State.ACTIVE, 0), new Hsm("hsm-b2", State.DEGRADED, 3)),
      List.of("arn:aws:kms:us-east-1:111122223333:key/bare"),
      List.of(new KeyMaterialReport.Orphan("hsm-b1", "arn:aws:kms:us-east-1:111122223333:key/orphan")));
  private static final String NODE = "node-1";
  private static final Set<String> ROLES = Set.of("keyhold_background");
  private static final ClusterHealth UNAVAILABLE = new ClusterHealth("cks-c", "cluster-ccccccccccc",
      State.UNAVAILABLE, List.of(new Hsm("hsm-c1", State.DEGRADED, 5)), List.of(), List.of());

  @Test
  void everyClusterActiveIsActiveAnd200() throws IOException {
    HealthReport report = HealthReport.of(NODE, ROLES, List.of(ACTIVE));

    assertThat(report.status()).isEqualTo(State.ACTIVE);
    assertThat(report.httpStatus()).isEqualTo(200);
    assertThat(MAPPER.readTree(report.toJson())).isEqualTo(json("""
        {"node": "node-1", "roles": ["keyhold_background"], "status": "ACTIVE", "keyStoresChecked": 1, "keyStores": [
          {"id": "cks-a", "cluster": "cluster-aaaaaaaaaaa", "state": "ACTIVE", "hsms": [
            {"hsmId": "hsm-a1", "state": "ACTIVE", "keysMissing": 0},
            {"hsmId": "hsm-a2", "state": "ACTIVE", "keysMissing": 0}],
           "keysWithoutMaterial": [], "orphanedMaterial": []}]}
        """));
  }

  @Test
  void aDegradedClusterMakesItDegradedButStill200() throws IOException {
    HealthReport report = HealthReport.of(NODE, ROLES, List.of(DEGRADED, ACTIVE));

    assertThat(report.status()).isEqualTo(State.DEGRADED);
    assertThat(report.httpStatus()).isEqualTo(200);
    assertThat(MAPPER.readTree(report.toJson())).isEqualTo(json("""
        {"node": "node-1", "roles": ["keyhold_background"], "status": "DEGRADED", "keyStoresChecked": 2, "keyStores": [
          {"id": "cks-a", "cluster": "cluster-aaaaaaaaaaa", "state": "ACTIVE", "hsms": [
            {"hsmId": "hsm-a1", "state": "ACTIVE", "keysMissing": 0},
            {"hsmId": "hsm-a2", "state": "ACTIVE", "keysMissing": 0}],
           "keysWithoutMaterial": [], "orphanedMaterial": []},
          {"id": "cks-b", "cluster": "cluster-bbbbbbbbbbb", "state": "DEGRADED", "hsms": [
            {"hsmId": "hsm-b1", "state": "ACTIVE", "keysMissing": 0},
            {"hsmId": "hsm-b2", "state": "DEGRADED", "keysMissing": 3}],
           "keysWithoutMaterial": ["arn:aws:kms:us-east-1:111122223333:key/bare"],
           "orphanedMaterial": [{"hsmId": "hsm-b1", "label": "arn:aws:kms:us-east-1:111122223333:key/orphan"}]}]}
        """));
  }

  @Test
  void anUnavailableClusterMakesItUnavailableAnd503() throws IOException {
    HealthReport report = HealthReport.of(NODE, ROLES, List.of(ACTIVE, UNAVAILABLE, DEGRADED));

    assertThat(report.status()).isEqualTo(State.UNAVAILABLE);
    assertThat(report.httpStatus()).isEqualTo(503);
    JsonNode body = MAPPER.readTree(report.toJson());
    assertThat(body.get("status").asText()).isEqualTo("UNAVAILABLE");
    assertThat(body.get("keyStoresChecked").asInt()).isEqualTo(3);
    assertThat(body.get("keyStores").get(2)).isEqualTo(json("""
        {"id": "cks-c", "cluster": "cluster-ccccccccccc", "state": "UNAVAILABLE", "hsms": [
          {"hsmId": "hsm-c1", "state": "DEGRADED", "keysMissing": 5}],
         "keysWithoutMaterial": [], "orphanedMaterial": []}
        """));
  }

  @Test
  void noStoreCheckedIsActiveWithNothingListed() throws IOException {
    HealthReport report = HealthReport.of(NODE, ROLES, List.of());

    assertThat(report.status()).isEqualTo(State.ACTIVE);
    assertThat(report.httpStatus()).isEqualTo(200);
    assertThat(MAPPER.readTree(report.toJson()))
        .isEqualTo(json("{\"node\": \"node-1\", \"roles\": [\"keyhold_background\"], \"status\": \"ACTIVE\", \"keyStoresChecked\": 0, \"keyStores\": []}"));
  }

  private static JsonNode json(String text) throws IOException {
    return MAPPER.readTree(text);
  }
}
