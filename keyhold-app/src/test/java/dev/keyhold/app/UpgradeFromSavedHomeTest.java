package dev.keyhold.app;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.ops.AuditLogVerifier;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A home made by the previous main keeps working: {@code src/test/resources/upgrade/home-0f936c0.tar.gz}
 * (see the README beside it) is a {@code bin/keyhold} home saved by commit 0f936c0, before the
 * {@code V6} migration, with an Enabled key (alias, tag, description), a Disabled one, one
 * PendingDeletion, a ciphertext of the Enabled one, and a CreateKey that a crash interrupted after its
 * material reached both HSMs (its record still Creating).
 *
 * <p>This code's embedded service ({@link LocalKeyhold}) opens it twice, each time in a fresh JVM
 * ({@link SavedHomeProbe}) with {@code SOFTHSM2_CONF} naming the home's configuration, as
 * {@code bin/keyhold} runs it: SoftHSM2 reads that variable once per process, and this JVM's points into
 * {@code target/}. The probe reports what it saw as JSON; the assertions are here.
 */
class UpgradeFromSavedHomeTest {
  static final String FIXTURE = "/upgrade/home-0f936c0.tar.gz";
  static final Account ACCOUNT = new Account("111122223333", "us-east-1");
  static final String STORE_ID = "cks-a81910c968e65354d";
  static final List<String> HSM_IDS = List.of("hsm-egeqbl5w5ur", "hsm-kitk44vxxza");
  static final String ROOT_ACCESS_KEY_ID = "AKIAGQXBDJIZEWBF3LZY";
  static final int SAVED_PASSWORD_VERSION = 3;

  static final String ENABLED_KEY = "ca283bd8-0084-4bd2-955f-63e20f5bb2ac";
  static final String DISABLED_KEY = "04cf0f56-56f8-410a-bb26-c7307b078d66";
  static final String PENDING_DELETION_KEY = "b9602224-1d85-4390-a8fd-41742aefb28e";
  static final String INTERRUPTED_KEY = "a4ce4789-f3e9-43b2-9bad-dfd4d4b32594";
  static final String ALIAS = "alias/upgrade-enabled";
  static final Map<String, String> TAGS = Map.of("purpose", "upgrade-test");
  static final Map<String, String> CONTEXT = Map.of("purpose", "upgrade-test", "made-by", "0f936c0");
  static final String PLAINTEXT = "Keyhold upgrade fixture plaintext, made by 0f936c0";
  /** What 0f936c0's Encrypt returned for {@link #PLAINTEXT} under {@link #ALIAS} with {@link #CONTEXT}. */
  static final String SAVED_CIPHERTEXT = "AcooO9gAhEvSlV9j4g9bsqwVY2tzLWE4MTkxMGM5NjhlNjUzNTRkIYjyFT4pZEge4+XHmgHYEmIr"
      + "tOk6BuJha3zOmKzReoGuwXHsZuiy+d5Kn0gV8DSdIGPi3ptx4yx09BMkvJuOE0SZGl8jiwnboPu7C4XJ";

  private static final Map<String, SavedKey> SAVED_KEYS = Map.of(
      ENABLED_KEY, new SavedKey("Enabled", "upgrade fixture: enabled, aliased, tagged", 1796455844483L),
      DISABLED_KEY, new SavedKey("Disabled", "upgrade fixture: disabled", 1796455846332L),
      PENDING_DELETION_KEY, new SavedKey("PendingDeletion", "upgrade fixture: pending deletion", 1796455848176L));
  private static final List<String> V6_COLUMNS = List.of("lease_node", "lease_run", "lease_expires_at");

  @TempDir Path temp;

  @Test
  void aHomeSavedByThePreviousMainOpensMigratesAndKeepsItsKeys() throws Exception {
    Path home = temp.resolve("home");
    try (InputStream fixture = UpgradeFromSavedHomeTest.class.getResourceAsStream(FIXTURE)) {
      assertThat(fixture).as("test resource %s", FIXTURE).isNotNull();
      unpack(fixture, home);
    }
    pointSoftHsmAtTokensOf(home);
    Instant deletionDate = Instant.now().plus(Duration.ofDays(7)).truncatedTo(ChronoUnit.MILLIS);
    checkSavedStateAndKeepWaitingPeriodOpen(home, deletionDate);

    List<String> savedAudit = Files.readAllLines(home.resolve("audit.log"), StandardCharsets.UTF_8);
    assertThat(savedAudit).as("the saved audit log").isNotEmpty();

    JsonNode upgraded = probe(home, "upgrade");
    String newKey = upgraded.path("newKey").asText();
    assertThat(newKey).as("the key made after the upgrade").matches("[0-9a-f-]{36}");

    // Flyway brought the V5 schema to V7; the old rows are read with the new columns NULL.
    assertMigrated(upgraded);
    // The store connected with the kmsuser password sealed by 0f936c0 and rotated it (3 -> 4).
    assertConnectedAndRotated(upgraded, SAVED_PASSWORD_VERSION + 1);
    assertThat(upgraded.path("rootAccessKeyId").asText()).as("the saved root credential").isEqualTo(ROOT_ACCESS_KEY_ID);
    // The interrupted CreateKey (pre-V6 row: no lease) was rolled back: record and material gone.
    assertRolledBack(upgraded);
    assertSavedKeys(upgraded, deletionDate);
    assertThat(upgraded.path("describeInterrupted").path("error").asText()).isEqualTo("NotFoundException");
    assertThat(texts(upgraded.path("listedKeyIds")))
        .containsExactlyInAnyOrder(ENABLED_KEY, DISABLED_KEY, PENDING_DELETION_KEY, newKey);
    assertSavedCiphertextDecrypts(upgraded);
    assertThat(upgraded.path("encryptUnderDisabled").path("error").asText()).isEqualTo("DisabledException");
    assertThat(upgraded.path("encryptUnderPendingDeletion").path("error").asText())
        .isEqualTo("KMSInvalidStateException");
    JsonNode made = upgraded.path("newKeyMetadata");
    assertThat(made.path("state").asText()).isEqualTo("Enabled");
    assertThat(made.path("origin").asText()).isEqualTo("AWS_KMS");
    assertThat(upgraded.path("newKeyRoundTrip").path("ok").path("plaintext").asText())
        .isEqualTo("made after the upgrade");
    assertMaterial(upgraded, List.of(ENABLED_KEY, DISABLED_KEY, PENDING_DELETION_KEY, newKey));
    // The audit log of 0f936c0 is appended to, never rewritten.
    List<String> audit = Files.readAllLines(home.resolve("audit.log"), StandardCharsets.UTF_8);
    assertThat(audit.subList(0, Math.min(audit.size(), savedAudit.size()))).isEqualTo(savedAudit);
    assertThat(audit.subList(savedAudit.size(), audit.size())).as("audit lines of the upgraded service")
        .anySatisfy(line -> assertThat(line).contains("\"operation\":\"CreateKey\"", "\"outcome\":\"success\"",
            "\"keyArn\":\"arn:aws:kms:us-east-1:111122223333:key/" + newKey + "\""));

    // A second start on the upgraded home: the migration is not run again, everything is still there.
    JsonNode reopened = probe(home, "reopen", newKey, upgraded.path("newKeyCiphertext").asText());
    assertMigrated(reopened);
    assertConnectedAndRotated(reopened, SAVED_PASSWORD_VERSION + 2);
    assertRolledBack(reopened);
    assertSavedKeys(reopened, deletionDate);
    assertThat(reopened.path("keys").path(newKey).path("state").asText()).isEqualTo("Enabled");
    assertThat(texts(reopened.path("listedKeyIds")))
        .containsExactlyInAnyOrder(ENABLED_KEY, DISABLED_KEY, PENDING_DELETION_KEY, newKey);
    assertSavedCiphertextDecrypts(reopened);
    assertThat(reopened.path("newKeyCiphertextAfterRestart").path("ok").path("plaintext").asText())
        .as("%s", reopened.path("newKeyCiphertextAfterRestart")).isEqualTo("made after the upgrade");
    // The saved records can still be changed: the Disabled key enabled and used, a deletion cancelled.
    assertThat(reopened.path("enableDisabledKey").path("ok").path("plaintext").asText())
        .as("%s", reopened.path("enableDisabledKey")).isEqualTo("made after the upgrade");
    assertThat(reopened.path("cancelDeletion").path("ok").asText())
        .as("%s", reopened.path("cancelDeletion")).isEqualTo("Disabled");
    assertMaterial(reopened, List.of(ENABLED_KEY, DISABLED_KEY, PENDING_DELETION_KEY, newKey));

    // 0f936c0's audit lines predate the chain: noted, not verified; every line since verifies, across
    // both runs, to the close line of the second.
    AuditLogVerifier.Verification chain = AuditLogVerifier.of(MasterKey.load(home.resolve(LocalBackend.MASTER_KEY)))
        .verify(List.of(home.resolve(LocalKeyhold.AUDIT_LOG)), true);
    assertThat(chain.problem()).isEmpty();
    assertThat(chain.files().get(0).notes()).first().extracting(AuditLogVerifier.Note::text).asString()
        .startsWith("lines 1-" + savedAudit.size() + " are not chained");
    assertThat(chain.files().get(0).verifiedLines())
        .isEqualTo(Files.readAllLines(home.resolve(LocalKeyhold.AUDIT_LOG), StandardCharsets.UTF_8).size()
            - savedAudit.size());
  }

  private static void assertMigrated(JsonNode seen) {
    List<String> versions = new ArrayList<>();
    for (JsonNode migration : seen.path("flyway")) {
      assertThat(migration.path("success").asBoolean()).as("migration %s succeeded", migration).isTrue();
      versions.add(migration.path("version").asText());
    }
    assertThat(versions).as("flyway_schema_history").containsExactly("1", "2", "3", "4", "5", "6", "7", "8", "9");
    assertThat(texts(seen.path("kmsKeysColumns"))).contains("key_id", "key_state", "deletion_date")
        .containsAll(V6_COLUMNS);
  }

  private static void assertConnectedAndRotated(JsonNode seen, int passwordVersion) {
    assertThat(seen.path("storeId").asText()).isEqualTo(STORE_ID);
    assertThat(seen.path("storeState").asText()).isEqualTo("CONNECTED");
    JsonNode password = seen.path("kmsuserPassword");
    assertThat(password.path("password_version").asInt()).as("kmsuser password version, %s", password)
        .isEqualTo(passwordVersion);
    assertThat(password.path("no_pending").asBoolean()).as("rotation finished, %s", password).isTrue();
    assertThat(password.path("versions_on_hsms").asInt()).as("rotation finished, %s", password).isZero();
  }

  private static void assertRolledBack(JsonNode seen) {
    assertThat(seen.path("creatingRows").asInt()).as("Creating rows left (waited %s ms)",
        seen.path("creatingRowsGoneAfterMillis")).isZero();
    assertThat(seen.path("interruptedKeyRow").size()).as("the interrupted key's record").isZero();
  }

  private static void assertSavedKeys(JsonNode seen, Instant deletionDate) {
    SAVED_KEYS.forEach((keyId, saved) -> {
      JsonNode key = seen.path("keys").path(keyId);
      assertThat(key.path("arn").asText()).isEqualTo(arn(keyId));
      assertThat(key.path("state").asText()).as("state of %s", keyId).isEqualTo(saved.state);
      assertThat(key.path("enabled").asBoolean()).as("Enabled of %s", keyId).isEqualTo(saved.state.equals("Enabled"));
      assertThat(key.path("description").asText()).as("description of %s", keyId).isEqualTo(saved.description);
      assertThat(key.path("origin").asText()).as("origin of %s", keyId).isEqualTo("AWS_KMS");
      assertThat(key.path("creationDate").asLong()).as("creation date of %s", keyId).isEqualTo(saved.creationDate);
      if (saved.state.equals("PendingDeletion")) {
        assertThat(key.path("deletionDate").asLong()).as("deletion date").isEqualTo(deletionDate.toEpochMilli());
      } else {
        assertThat(key.path("deletionDate").isNull()).as("no deletion date on %s", keyId).isTrue();
      }
    });
    assertThat(seen.path("aliases").path(ALIAS).asText()).as("%s", seen.path("aliases")).isEqualTo(ENABLED_KEY);
    assertThat(seen.path("aliases").size()).as("%s", seen.path("aliases")).isEqualTo(1);
    assertThat(seen.path("byAlias").asText()).isEqualTo(ENABLED_KEY);
    assertThat(new ObjectMapper().convertValue(seen.path("tags"), new TypeReference<Map<String, String>>() { }))
        .isEqualTo(TAGS);
  }

  private static void assertSavedCiphertextDecrypts(JsonNode seen) {
    for (String call : List.of("savedCiphertext", "savedCiphertextByAlias")) {
      JsonNode answer = seen.path(call);
      assertThat(answer.path("ok").path("plaintext").asText()).as("%s: %s", call, answer).isEqualTo(PLAINTEXT);
      assertThat(answer.path("ok").path("keyId").asText()).as("%s: %s", call, answer).isEqualTo(arn(ENABLED_KEY));
    }
    assertThat(seen.path("savedCiphertextWithoutContext").path("error").asText())
        .as("the saved ciphertext without its encryption context").isEqualTo("InvalidCiphertextException");
  }

  /** Every HSM holds the material of {@code keys} and not the interrupted key's; the report is clean. */
  private static void assertMaterial(JsonNode seen, List<String> keys) {
    JsonNode labels = seen.path("labelsOnHsms");
    assertThat(texts(labels.fieldNames())).containsExactlyInAnyOrderElementsOf(HSM_IDS);
    for (String hsmId : HSM_IDS) {
      assertThat(texts(labels.path(hsmId))).as("AES keys on %s", hsmId)
          .containsAll(keys.stream().map(UpgradeFromSavedHomeTest::arn).toList())
          .doesNotContain(arn(INTERRUPTED_KEY));
    }
    JsonNode report = seen.path("materialReport");
    assertThat(report.path("missing").size()).as("missing material: %s", report).isZero();
    assertThat(report.path("orphans").size()).as("orphan material: %s", report).isZero();
    assertThat(report.path("unreachableHsmIds").size()).as("unreachable HSMs: %s", report).isZero();
  }

  /**
   * Checks that the unpacked home is the one the README describes (schema V5, the interrupted
   * CreateKey's Creating record), and moves the PendingDeletion key's deletion date to
   * {@code deletionDate}: the saved one (7 days after the home was made) passes with the calendar, and
   * the service deletes due keys at start. Nothing else in the home is changed.
   */
  private static void checkSavedStateAndKeepWaitingPeriodOpen(Path home, Instant deletionDate) throws SQLException {
    try (Connection sql = DriverManager.getConnection(
        "jdbc:h2:file:" + home.resolve("data").resolve("keyhold") + ";WRITE_DELAY=0", "keyhold", "")) {
      assertThat(single(sql, "SELECT MAX(CAST(\"version\" AS INT)) FROM \"flyway_schema_history\""))
          .as("the saved home's schema version").isEqualTo(5);
      assertThat(single(sql, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.COLUMNS WHERE LOWER(TABLE_NAME) = 'kms_keys' "
          + "AND LOWER(COLUMN_NAME) LIKE 'lease%'")).as("lease columns before the upgrade").isEqualTo(0);
      assertThat(single(sql, "SELECT COUNT(*) FROM kms_keys WHERE key_state = 'Creating' AND key_id = '"
          + INTERRUPTED_KEY + "'")).as("the interrupted CreateKey's record").isEqualTo(1);
      assertThat(single(sql, "SELECT password_version FROM custom_key_stores WHERE id = '" + STORE_ID + "'"))
          .isEqualTo(SAVED_PASSWORD_VERSION);
      try (PreparedStatement update = sql.prepareStatement("UPDATE kms_keys SET deletion_date = ? "
          + "WHERE key_id = ? AND key_state = 'PendingDeletion'")) {
        update.setLong(1, deletionDate.toEpochMilli());
        update.setString(2, PENDING_DELETION_KEY);
        assertThat(update.executeUpdate()).as("the PendingDeletion key's record").isEqualTo(1);
      }
    }
  }

  /** Runs {@link SavedHomeProbe} on {@code home} in a fresh JVM; returns what it saw. */
  private JsonNode probe(Path home, String mode, String... more) throws IOException, InterruptedException {
    Path module = SoftHsmClusterExtension.modulePath();
    assertThat(Files.isReadable(module)).as("SoftHSM2 at %s: run 'apt-get install softhsm2' (bin/test does it) "
        + "or set -Dkeyhold.test.module", module).isTrue();
    Path out = temp.resolve(mode + ".json");
    Path log = temp.resolve(mode + ".log");
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), SavedHomeProbe.class.getName(),
        mode, home.toString(), out.toString(), module.toString()));
    command.addAll(List.of(more));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().put(SoftHsmDirectory.CONFIG_VARIABLE, home.resolve("softhsm/softhsm2.conf").toString());
    Process child = builder.start();
    boolean finished = child.waitFor(3, TimeUnit.MINUTES);
    if (!finished) {
      child.destroyForcibly().waitFor();
    }
    // The service logs at DEBUG without a logback configuration; keep what a reader needs.
    String output = Files.readAllLines(log, StandardCharsets.UTF_8).stream()
        .filter(line -> !line.contains(" DEBUG ") && !line.contains(" TRACE ")).collect(Collectors.joining("\n"));
    System.out.println("SavedHomeProbe " + mode + " ->\n" + output);
    assertThat(finished).as("SavedHomeProbe %s finished within 3 minutes:\n%s", mode, output).isTrue();
    assertThat(child.exitValue()).as("SavedHomeProbe %s exit code:\n%s", mode, output).isZero();
    JsonNode seen = new ObjectMapper().readTree(out.toFile());
    System.out.println(seen.toPrettyString());
    return seen;
  }

  /** The fixture's softhsm2.conf names the token directory where it was made; name the unpacked one. */
  static void pointSoftHsmAtTokensOf(Path home) throws IOException {
    Path config = home.resolve("softhsm/softhsm2.conf");
    List<String> lines = Files.readAllLines(config, StandardCharsets.UTF_8);
    List<String> rewritten = lines.stream().map(line -> line.startsWith("directories.tokendir")
        ? "directories.tokendir = " + home.resolve("softhsm/tokens") : line).toList();
    assertThat(rewritten).as("softhsm2.conf").filteredOn(line -> line.startsWith("directories.tokendir")).hasSize(1);
    Files.write(config, rewritten, StandardCharsets.UTF_8);
  }

  /** Unpacks a gzipped ustar archive of directories and regular files, keeping their permissions. */
  static void unpack(InputStream gzipped, Path into) throws IOException {
    Files.createDirectories(into);
    try (InputStream in = new GZIPInputStream(gzipped)) {
      byte[] header = new byte[512];
      while (in.readNBytes(header, 0, header.length) == header.length && header[0] != 0) {
        String prefix = field(header, 345, 155);
        String name = (prefix.isEmpty() ? "" : prefix + "/") + field(header, 0, 100);
        int mode = Integer.parseInt(field(header, 100, 8).trim(), 8);
        long size = Long.parseLong(field(header, 124, 12).trim(), 8);
        char type = (char) header[156];
        Path target = into.resolve(name).normalize();
        assertThat(target.startsWith(into)).as("archive entry %s stays inside %s", name, into).isTrue();
        if (type == '5') {
          Files.createDirectories(target);
        } else {
          assertThat(type).as("type of archive entry %s", name).isIn('0', '\0');
          Files.createDirectories(target.getParent());
          Files.write(target, in.readNBytes(Math.toIntExact(size)));
          in.readNBytes(Math.toIntExact((512 - size % 512) % 512));
        }
        Files.setPosixFilePermissions(target, permissions(mode));
      }
    }
  }

  private static String field(byte[] header, int offset, int length) {
    int end = offset;
    while (end < offset + length && header[end] != 0) {
      end++;
    }
    return new String(header, offset, end - offset, StandardCharsets.US_ASCII);
  }

  private static Set<PosixFilePermission> permissions(int mode) {
    Set<PosixFilePermission> permissions = EnumSet.noneOf(PosixFilePermission.class);
    PosixFilePermission[] bits = PosixFilePermission.values(); // OWNER_READ ... OTHERS_EXECUTE, high bit first
    for (int i = 0; i < bits.length; i++) {
      if ((mode & (1 << (bits.length - 1 - i))) != 0) {
        permissions.add(bits[i]);
      }
    }
    return permissions;
  }

  private static int single(Connection sql, String query) throws SQLException {
    try (PreparedStatement statement = sql.prepareStatement(query); ResultSet result = statement.executeQuery()) {
      assertThat(result.next()).as(query).isTrue();
      return result.getInt(1);
    }
  }

  private static String arn(String keyId) {
    return "arn:aws:kms:" + ACCOUNT.region() + ":" + ACCOUNT.accountId() + ":key/" + keyId;
  }

  private static List<String> texts(JsonNode array) {
    return StreamSupport.stream(array.spliterator(), false).map(JsonNode::asText).toList();
  }

  private static List<String> texts(Iterator<String> names) {
    List<String> all = new ArrayList<>();
    names.forEachRemaining(all::add);
    return all;
  }

  private record SavedKey(String state, String description, long creationDate) {}
}
