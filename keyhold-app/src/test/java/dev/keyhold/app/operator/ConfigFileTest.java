package dev.keyhold.app.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.quota.QuotaConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A node's YAML file: variables, secrets from files, and every problem at its line. */
class ConfigFileTest {
  @TempDir Path work;

  @Test
  void aCompleteFileReadsWithItsVariablesAndSecretFiles() throws Exception {
    Path password = Files.writeString(work.resolve("db-password"), "s3cret\n");
    Path file = Files.writeString(work.resolve("node.yaml"), """
        node: ${NODE_NAME}
        listen:
          host: 0.0.0.0
          port: 4599
        account:
          id: "111122223333"
          region: eu-west-1
        clusters: /etc/keyhold/clusters.json
        metadata:
          jdbc:
            url: jdbc:postgresql://${DB_HOST}/keyhold
            user: keyhold
            password:
              file: %s
        masterKey: /etc/keyhold/master.key
        auditLog: /var/log/keyhold/audit.log
        defaultKeyStore: main
        """.formatted(password));

    NodeConfig node = ConfigFile.read(file, Map.of("NODE_NAME", "node-2", "DB_HOST", "db.internal")::get).orElseThrow();

    assertThat(node.node()).isEqualTo("node-2");
    assertThat(node.listen().port()).isEqualTo(4599);
    assertThat(node.metadata().jdbc().url()).isEqualTo("jdbc:postgresql://db.internal/keyhold");
    assertThat(node.metadata().jdbc().password().reveal()).isEqualTo("s3cret");
    assertThat(node.metadata().jdbc().password().toString()).doesNotContain("s3cret");
    assertThat(node.defaultKeyStoreName()).hasValue("main");
  }

  @Test
  void theDocumentedExampleReads() {
    ConfigFile.Read read = ConfigFile.read(Path.of("..", "docs", "examples", "node.yaml"), Map.of(
        "KEYHOLD_NODE", "node-1", "KEYHOLD_PORT", "4599", "KEYHOLD_CONFIG_DIR", "/etc/keyhold",
        "KEYHOLD_DB_URL", "jdbc:postgresql://db.internal:5432/keyhold", "KEYHOLD_SECRETS_DIR", "/run/secrets",
        "KEYHOLD_LOG_DIR", "/var/log/keyhold")::get);

    assertThat(read.problems()).isEmpty();
    NodeConfig node = read.orElseThrow();
    assertThat(node.node()).isEqualTo("node-1");
    assertThat(node.metadata().jdbc().url()).isEqualTo("jdbc:postgresql://db.internal:5432/keyhold");
    assertThat(node.metadata().jdbc().password().file()).hasValue(Path.of("/run/secrets/db-password"));
    assertThat(node.auditLog()).isEqualTo(Path.of("/var/log/keyhold/audit-node-1.log"));
  }

  @Test
  void everyProblemIsReportedAtItsLine() throws Exception {
    Path file = Files.writeString(work.resolve("node.yaml"), """
        node: ${NODE_NAME}
        listen:
          host: 0.0.0.0
          port: 70000
        account:
          id: "1234"
          region: eu-west-1
        clusters: /etc/keyhold/clusters.json
        metadata:
          h2: /var/lib/keyhold
          jdbc:
            url: jdbc:postgresql://db/keyhold
            user: keyhold
            password: x
        auditLog: /var/log/keyhold/audit.log
        """);

    ConfigFile.Read read = ConfigFile.read(file, Map.<String, String>of()::get);

    assertThat(read.problems()).extracting(Object::toString).containsExactlyInAnyOrder(
        "line 1: ${NODE_NAME} is not set",
        "line 1: node must name this node: letters, digits, '.', '_' or '-', at most 128",
        "line 4: listen.port must be 0 to 65535",
        "line 6: account.id must be 12 digits",
        "line 9: metadata needs exactly one of h2 (a directory) and jdbc (url, user, password)",
        "masterKey is required");
  }

  @Test
  void anUnknownMemberIsRefusedAtItsLine() throws Exception {
    Path file = Files.writeString(work.resolve("node.yaml"), """
        node: n1
        listen:
          host: 127.0.0.1
          prot: 4599
        """);

    ConfigFile.Read read = ConfigFile.read(file, Map.<String, String>of()::get);

    assertThat(read.problems()).hasSize(1);
    assertThat(read.problems().get(0).line()).isEqualTo(4);
    assertThat(read.problems().get(0).message()).contains("\"prot\"");
  }

  @Test
  void quotasStartFromAwsAndEachMemberReplacesOne() throws Exception {
    NodeConfig node = ConfigFile.read(withQuotas("""
        quotas:
          perKeyStore: 900
          perCredential: 50.5
          operations:
            CreateKey: unlimited
            DescribeKey: 100
        """), Map.<String, String>of()::get).orElseThrow();

    QuotaConfig quotas = node.quotas().toQuotaConfig();
    assertThat(quotas.perKeyStore()).isEqualTo(900);
    assertThat(quotas.perCredential()).isEqualTo(50.5);
    assertThat(quotas.rateOf(KmsOperation.CreateKey)).isEqualTo(QuotaConfig.UNLIMITED);
    assertThat(quotas.rateOf(KmsOperation.DescribeKey)).isEqualTo(100);
    assertThat(quotas.rateOf(KmsOperation.Encrypt)).isEqualTo(QuotaConfig.aws().cryptographicPerAccount());
    assertThat(quotas.rateOf(KmsOperation.ListKeys)).isEqualTo(QuotaConfig.aws().rateOf(KmsOperation.ListKeys));
  }

  @Test
  void badQuotasAreReportedAtTheirLines() throws Exception {
    ConfigFile.Read read = ConfigFile.read(withQuotas("""
        quotas:
          perKeyStore: 0
          perCredential: lots
          operations:
            Encrypt: 10
            Shred: 10
        """), Map.<String, String>of()::get);

    assertThat(read.problems()).extracting(ConfigFile.Problem::toString).containsExactly(
        "line 11: quotas.perKeyStore must be a positive number of requests per second, or unlimited",
        "line 12: quotas.perCredential must be a positive number of requests per second, or unlimited",
        "line 14: quotas.operations: Encrypt shares quotas.cryptographicPerAccount and has no rate of its own",
        "line 15: quotas.operations: Shred is no operation Keyhold serves");
  }

  @Test
  void anUnknownQuotaFails() throws Exception {
    ConfigFile.Read read = ConfigFile.read(withQuotas("""
        quotas:
          perAccount: 10
        """), Map.<String, String>of()::get);

    assertThat(read.problems()).singleElement().satisfies(problem -> {
      assertThat(problem.line()).isEqualTo(11);
      assertThat(problem.message()).contains("perAccount");
    });
  }

  /** A complete file, quotas from its line 10 on. */
  private Path withQuotas(String quotas) throws Exception {
    return Files.writeString(work.resolve("node.yaml"), """
        node: node-1
        listen:
          host: 127.0.0.1
          port: 0
        account:
          id: "111122223333"
          region: eu-west-1
        clusters: /etc/keyhold/clusters.json
        masterKey: /etc/keyhold/master.key
        """ + quotas + """
        metadata:
          h2: /var/lib/keyhold
        auditLog: /var/log/keyhold/audit.log
        """);
  }
}
