package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.ops.AuditLog;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.awscore.AwsResponse;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateKeyResponse;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * The audit file a server writes, read back line by line: every operation that creates or names a key
 * names it in {@code keyArn}, and ReEncrypt and UpdateAlias their second key in {@code sourceKeyArn}.
 */
class AuditTrailTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SdkBytes PLAINTEXT = SdkBytes.fromUtf8String("audited");

  @TempDir static Path data;
  private static AuditLog audit;
  private static TestKeyhold keyhold;
  private static KmsClient root;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, server -> {
      try {
        audit = AuditLog.toFile(data.resolve("audit.log"), MasterKey.load(data.resolve("master.key")));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return server.observer(audit);
    });
    root = keyhold.client(keyhold.admin);
  }

  @AfterAll
  static void stop() throws IOException {
    root.close();
    keyhold.close();
    audit.close();
  }

  @Test
  void everyOperationThatCreatesOrNamesAKeyNamesItsArn() throws IOException {
    CreateKeyResponse creation = root.createKey(r -> r.description("audited"));
    String created = creation.keyMetadata().arn();
    assertThat(text(line(creation.responseMetadata().requestId()), "keyArn")).as("the new key").isEqualTo(created);
    String other = root.createKey(r -> r.description("the other")).keyMetadata().arn();
    SdkBytes blob = root.encrypt(r -> r.keyId(created).plaintext(PLAINTEXT)).ciphertextBlob();
    root.createAlias(r -> r.aliasName("alias/audited").targetKeyId(created));

    List<Case> cases = List.of(
        new Case("DescribeKey", c -> c.describeKey(r -> r.keyId("alias/audited")), created, null),
        new Case("Encrypt", c -> c.encrypt(r -> r.keyId(created).plaintext(PLAINTEXT)), created, null),
        new Case("Decrypt", c -> c.decrypt(r -> r.ciphertextBlob(blob)), created, null),
        new Case("ReEncrypt", c -> c.reEncrypt(r -> r.ciphertextBlob(blob).destinationKeyId(other)), other, created),
        new Case("UpdateAlias", c -> c.updateAlias(r -> r.aliasName("alias/audited").targetKeyId(other)),
            other, created),
        new Case("ListAliases", c -> c.listAliases(r -> r.keyId(other)), other, null),
        new Case("DeleteAlias", c -> c.deleteAlias(r -> r.aliasName("alias/audited")), other, null),
        new Case("GenerateDataKey", c -> c.generateDataKey(r -> r.keyId(created).numberOfBytes(16)), created, null),
        new Case("ListResourceTags", c -> c.listResourceTags(r -> r.keyId(created)), created, null),
        new Case("ListKeys", c -> c.listKeys(), null, null),
        new Case("GenerateRandom", c -> c.generateRandom(r -> r.numberOfBytes(8)), null, null));
    try (KmsClient mallory = keyhold.client(keyhold.mallory)) {
      for (Case c : cases) {
        String requestId = c.call().apply(root).responseMetadata().requestId();
        JsonNode line = line(requestId);
        assertThat(line.get("operation").asText()).isEqualTo(c.operation());
        assertThat(text(line, "keyArn")).as("%s's keyArn", c.operation()).isEqualTo(c.keyArn());
        assertThat(text(line, "sourceKeyArn")).as("%s's sourceKeyArn", c.operation()).isEqualTo(c.sourceKeyArn());
      }

      // A denied request names the key it wanted.
      String denied = requestIdOf(() -> mallory.encrypt(r -> r.keyId(created).plaintext(PLAINTEXT)));
      assertThat(line(denied).get("outcome").asText()).isEqualTo("AccessDeniedException");
      assertThat(text(line(denied), "keyArn")).isEqualTo(created);
      String deniedReEncrypt = requestIdOf(() -> mallory.reEncrypt(r -> r.ciphertextBlob(blob).destinationKeyId(other)));
      assertThat(text(line(deniedReEncrypt), "keyArn")).isEqualTo(other);
      assertThat(text(line(deniedReEncrypt), "sourceKeyArn")).as("denied at the destination, before the source")
          .isNull();
    }
  }

  /** A call whose audit line must name {@code keyArn} and {@code sourceKeyArn} (null for none). */
  private record Case(String operation, Function<KmsClient, AwsResponse> call, String keyArn, String sourceKeyArn) {}

  /** The audit line of the request {@code requestId}: written before the answer, so there already. */
  private static JsonNode line(String requestId) throws IOException {
    List<JsonNode> found = new ArrayList<>();
    for (String line : Files.readAllLines(data.resolve("audit.log"), UTF_8)) {
      JsonNode node = JSON.readTree(line);
      if (requestId.equals(node.path("requestId").asText(null))) {
        found.add(node);
      }
    }
    assertThat(found).as("lines of request %s", requestId).hasSize(1);
    return found.get(0);
  }

  private static String text(JsonNode line, String field) {
    assertThat(line.has(field)).as("%s is always written", field).isTrue();
    return line.get(field).isNull() ? null : line.get(field).asText();
  }

  private static String requestIdOf(Runnable failing) {
    try {
      failing.run();
    } catch (KmsException e) {
      return e.requestId();
    }
    throw new AssertionError("the call succeeded");
  }
}
