package dev.keyhold.app;

import static dev.keyhold.app.UpgradeFromSavedHomeTest.ACCOUNT;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.CONTEXT;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.DISABLED_KEY;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.ENABLED_KEY;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.INTERRUPTED_KEY;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.PENDING_DELETION_KEY;
import static dev.keyhold.app.UpgradeFromSavedHomeTest.SAVED_CIPHERTEXT;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.KeyMaterialReport;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.CustomKeyStoresListEntry;
import dev.keyhold.kms.keystore.DescribeCustomKeyStoresRequest;
import dev.keyhold.pkcs11.AesKey;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.AliasListEntry;
import software.amazon.awssdk.services.kms.model.DecryptResponse;
import software.amazon.awssdk.services.kms.model.KeyListEntry;
import software.amazon.awssdk.services.kms.model.KeyMetadata;
import software.amazon.awssdk.services.kms.model.Tag;

/**
 * The child JVM of {@link UpgradeFromSavedHomeTest}: opens a home with this code's embedded service
 * ({@link LocalKeyhold#start}, as {@code bin/keyhold} does, with {@code SOFTHSM2_CONF} naming the
 * home's SoftHSM2 configuration), uses it through the AWS SDK and the kms-core API, writes what it saw
 * as JSON, and closes it. It asserts nothing itself: the test does, on the JSON.
 *
 * <p>{@code upgrade HOME OUT MODULE}: the first start on the saved home (migration, rollback of the
 * interrupted CreateKey), then a new key is made and used. {@code reopen HOME OUT MODULE NEW_KEY
 * NEW_CIPHERTEXT}: a second start on the upgraded home; then the saved keys are changed (the Disabled
 * one enabled, the deletion of the PendingDeletion one cancelled).
 */
public final class SavedHomeProbe {
  private static final Duration ROLLBACK_WAIT = Duration.ofSeconds(60);
  private static final String NEW_PLAINTEXT = "made after the upgrade";

  private SavedHomeProbe() {}

  public static void main(String[] args) throws Exception {
    String mode = args[0];
    Path home = Path.of(args[1]).toAbsolutePath();
    Path out = Path.of(args[2]);
    Path module = Path.of(args[3]);
    Map<String, Object> seen = new LinkedHashMap<>();
    PrintStream progress = System.out;
    try (LocalKeyhold keyhold = LocalKeyhold.start(home, module, ACCOUNT, progress,
        builder -> builder.host("127.0.0.1").port(0));
        Connection sql = DriverManager.getConnection(
            "jdbc:h2:file:" + home.resolve("data").resolve("keyhold") + ";WRITE_DELAY=0", "keyhold", "");
        KmsClient kms = client(keyhold)) {
      Keyhold backend = keyhold.keyhold();
      seen.put("rootAccessKeyId", keyhold.root().accessKeyId());
      CustomKeyStoresListEntry store = backend.keyStores().describeCustomKeyStores(
          DescribeCustomKeyStoresRequest.all()).customKeyStores().stream()
          .filter(entry -> entry.customKeyStoreName().equals(LocalBackend.STORE_NAME)).findFirst().orElseThrow();
      String storeId = store.customKeyStoreId();
      seen.put("storeId", storeId);
      seen.put("storeState", store.connectionState().name());
      seen.put("flyway", rows(sql, "SELECT \"version\", \"success\" FROM \"flyway_schema_history\" "
          + "WHERE \"version\" IS NOT NULL ORDER BY \"installed_rank\""));
      seen.put("kmsKeysColumns", rows(sql, "SELECT LOWER(COLUMN_NAME) AS name FROM INFORMATION_SCHEMA.COLUMNS "
          + "WHERE LOWER(TABLE_NAME) = 'kms_keys' ORDER BY ORDINAL_POSITION").stream().map(row -> row.get("name"))
          .toList());
      seen.put("kmsuserPassword", rows(sql, "SELECT password_version, sealed_pending_password IS NULL AS no_pending, "
          + "(SELECT COUNT(*) FROM kmsuser_password_on_hsm) AS versions_on_hsms FROM custom_key_stores").get(0));

      seen.put("creatingRowsAtStart", creatingRows(sql));
      long waitStart = System.nanoTime();
      while (creatingRows(sql) > 0 && System.nanoTime() - waitStart < ROLLBACK_WAIT.toNanos()) {
        Thread.sleep(100);
      }
      seen.put("creatingRows", creatingRows(sql));
      seen.put("creatingRowsGoneAfterMillis", Duration.ofNanos(System.nanoTime() - waitStart).toMillis());
      seen.put("interruptedKeyRow", rows(sql, "SELECT key_id FROM kms_keys WHERE key_id = ?", INTERRUPTED_KEY));

      Map<String, Object> keys = new TreeMap<>();
      for (String keyId : List.of(ENABLED_KEY, DISABLED_KEY, PENDING_DELETION_KEY)) {
        keys.put(keyId, metadata(kms.describeKey(r -> r.keyId(keyId)).keyMetadata()));
      }
      if (mode.equals("reopen")) {
        keys.put(args[4], metadata(kms.describeKey(r -> r.keyId(args[4])).keyMetadata()));
      }
      seen.put("keys", keys);
      Map<String, String> aliases = new TreeMap<>();
      for (AliasListEntry alias : kms.listAliasesPaginator(r -> r.limit(10)).aliases()) {
        aliases.put(alias.aliasName(), alias.targetKeyId());
      }
      seen.put("aliases", aliases);
      seen.put("byAlias", kms.describeKey(r -> r.keyId("alias/upgrade-enabled")).keyMetadata().keyId());
      Map<String, String> tags = new TreeMap<>();
      for (Tag tag : kms.listResourceTags(r -> r.keyId(ENABLED_KEY)).tags()) {
        tags.put(tag.tagKey(), tag.tagValue());
      }
      seen.put("tags", tags);
      seen.put("describeInterrupted", attempt(() -> kms.describeKey(r -> r.keyId(INTERRUPTED_KEY)).keyMetadata()
          .keyStateAsString()));

      seen.put("savedCiphertext", attempt(() -> decrypted(kms.decrypt(r -> r.ciphertextBlob(saved())
          .encryptionContext(CONTEXT)))));
      seen.put("savedCiphertextByAlias", attempt(() -> decrypted(kms.decrypt(r -> r.ciphertextBlob(saved())
          .encryptionContext(CONTEXT).keyId("alias/upgrade-enabled")))));
      seen.put("savedCiphertextWithoutContext", attempt(() -> decrypted(kms.decrypt(r -> r.ciphertextBlob(saved())))));
      seen.put("encryptUnderDisabled", attempt(() -> encrypt(kms, DISABLED_KEY)));
      seen.put("encryptUnderPendingDeletion", attempt(() -> encrypt(kms, PENDING_DELETION_KEY)));

      if (mode.equals("upgrade")) {
        String newKey = kms.createKey(r -> r.description("made after the upgrade")).keyMetadata().keyId();
        seen.put("newKey", newKey);
        SdkBytes blob = kms.encrypt(r -> r.keyId(newKey).plaintext(SdkBytes.fromUtf8String(NEW_PLAINTEXT))
            .encryptionContext(Map.of("run", "upgrade"))).ciphertextBlob();
        seen.put("newKeyCiphertext", Base64.getEncoder().encodeToString(blob.asByteArray()));
        seen.put("newKeyRoundTrip", attempt(() -> decrypted(kms.decrypt(r -> r.ciphertextBlob(blob)
            .encryptionContext(Map.of("run", "upgrade"))))));
        seen.put("newKeyMetadata", metadata(kms.describeKey(r -> r.keyId(newKey)).keyMetadata()));
      } else {
        SdkBytes blob = SdkBytes.fromByteArray(Base64.getDecoder().decode(args[5]));
        seen.put("newKeyCiphertextAfterRestart", attempt(() -> decrypted(kms.decrypt(r -> r.ciphertextBlob(blob)
            .encryptionContext(Map.of("run", "upgrade"))))));
        seen.put("enableDisabledKey", attempt(() -> {
          kms.enableKey(r -> r.keyId(DISABLED_KEY));
          SdkBytes sealed = kms.encrypt(r -> r.keyId(DISABLED_KEY).plaintext(SdkBytes.fromUtf8String(NEW_PLAINTEXT)))
              .ciphertextBlob();
          return decrypted(kms.decrypt(r -> r.ciphertextBlob(sealed)));
        }));
        seen.put("cancelDeletion", attempt(() -> {
          kms.cancelKeyDeletion(r -> r.keyId(PENDING_DELETION_KEY));
          return kms.describeKey(r -> r.keyId(PENDING_DELETION_KEY)).keyMetadata().keyStateAsString();
        }));
      }

      seen.put("listedKeyIds", kms.listKeysPaginator(r -> r.limit(2)).keys().stream().map(KeyListEntry::keyId)
          .sorted().toList());
      ConnectedStore logins = backend.connections().connected(storeId).orElseThrow();
      Map<String, List<String>> labels = new TreeMap<>();
      logins.tokens().forEach((hsmId, token) ->
          labels.put(hsmId, token.listAesKeys().stream().map(AesKey::label).sorted().toList()));
      seen.put("labelsOnHsms", labels);
      KeyMaterialReport report = backend.keys().materialReports().keyMaterialReport(storeId);
      seen.put("materialReport", Map.of("missing", report.missing(), "orphans", report.orphans(),
          "unreachableHsmIds", report.unreachableHsmIds()));
    }
    new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), seen);
    System.exit(0); // the service's pools are closed; nothing else should keep the JVM up
  }

  private static KmsClient client(LocalKeyhold keyhold) {
    return KmsClient.builder()
        .endpointOverride(keyhold.server().uri())
        .region(Region.of(ACCOUNT.region()))
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
            keyhold.root().accessKeyId(), keyhold.root().secretAccessKey().withChars(String::new))))
        .httpClient(UrlConnectionHttpClient.builder().build())
        .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
        .build();
  }

  private static SdkBytes saved() {
    return SdkBytes.fromByteArray(Base64.getDecoder().decode(SAVED_CIPHERTEXT));
  }

  private static String encrypt(KmsClient kms, String keyId) {
    return kms.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String(NEW_PLAINTEXT))).keyId();
  }

  /** The plaintext as text and the key that decrypted it. */
  private static Map<String, String> decrypted(DecryptResponse response) {
    return Map.of("plaintext", response.plaintext().asString(StandardCharsets.UTF_8), "keyId", response.keyId());
  }

  private static Map<String, Object> metadata(KeyMetadata key) {
    Map<String, Object> seen = new LinkedHashMap<>();
    seen.put("arn", key.arn());
    seen.put("state", key.keyStateAsString());
    seen.put("enabled", key.enabled());
    seen.put("description", key.description());
    seen.put("origin", key.originAsString());
    seen.put("creationDate", key.creationDate().toEpochMilli());
    seen.put("deletionDate", key.deletionDate() == null ? null : key.deletionDate().toEpochMilli());
    return seen;
  }

  /** {"ok": what it returned} or {"error": the AWS error code}. */
  private static Map<String, Object> attempt(Supplier<Object> call) {
    try {
      Object result = call.get();
      Map<String, Object> ok = new LinkedHashMap<>();
      ok.put("ok", result);
      return ok;
    } catch (AwsServiceException e) {
      return Map.of("error", String.valueOf(e.awsErrorDetails().errorCode()));
    }
  }

  private static int creatingRows(Connection sql) throws SQLException {
    return ((Number) rows(sql, "SELECT COUNT(*) AS n FROM kms_keys WHERE key_state = 'Creating'").get(0).get("n"))
        .intValue();
  }

  private static List<Map<String, Object>> rows(Connection sql, String query, String... parameters)
      throws SQLException {
    try (PreparedStatement statement = sql.prepareStatement(query)) {
      for (int i = 0; i < parameters.length; i++) {
        statement.setString(i + 1, parameters[i]);
      }
      try (ResultSet result = statement.executeQuery()) {
        List<Map<String, Object>> rows = new ArrayList<>();
        while (result.next()) {
          Map<String, Object> row = new LinkedHashMap<>();
          for (int column = 1; column <= result.getMetaData().getColumnCount(); column++) {
            row.put(result.getMetaData().getColumnLabel(column).toLowerCase(java.util.Locale.ROOT),
                result.getObject(column));
          }
          rows.add(row);
        }
        return rows;
      }
    }
  }
}
