package dev.keyhold.server.auth;

import static dev.keyhold.server.auth.TestRequests.secret;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keyhold.kms.secret.MasterKey;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CredentialStoreTest {
  private static final JsonMapper JSON = new JsonMapper();

  @TempDir Path directory;

  private final SecureRandom random = new SecureRandom();
  private Path file;
  private MasterKey masterKey;
  private Credential alice;
  private Credential admin;

  @BeforeEach
  void setUp() {
    file = directory.resolve("config/credentials.json");
    masterKey = MasterKey.loadOrCreate(directory.resolve("master.key"));
    alice = Credential.generate("arn:aws:iam::111122223333:user/alice", random);
    admin = Credential.generate("arn:aws:iam::111122223333:role/ops/KeyAdmin", random);
  }

  @Test
  void startsEmptyAndKeepsWhatIsAdded() {
    CredentialStore store = CredentialStore.load(file, masterKey);
    assertThat(store.credentials()).isEmpty();

    store.add(alice);
    store.add(admin);

    CredentialStore reloaded = CredentialStore.load(file, masterKey);
    assertThat(reloaded.credentials()).extracting(Credential::accessKeyId)
        .containsExactly(alice.accessKeyId(), admin.accessKeyId());
    Credential read = reloaded.lookup(admin.accessKeyId()).orElseThrow();
    assertThat(read.principalArn()).isEqualTo("arn:aws:iam::111122223333:role/ops/KeyAdmin");
    assertThat(secret(read)).isEqualTo(secret(admin));
    assertThat(reloaded.lookup("AKIAUNKNOWNUNKNOWN00")).isEmpty();
  }

  @Test
  void writesNoSecretInClearAndOnlyForItsOwner() throws IOException {
    CredentialStore store = CredentialStore.load(file, masterKey);
    store.add(alice);
    store.add(admin);

    String contents = new String(Files.readAllBytes(file), ISO_8859_1);
    assertThat(contents).contains(alice.accessKeyId(), admin.accessKeyId());
    for (Credential credential : List.of(alice, admin)) {
      assertThat(contents).doesNotContain(secret(credential),
          Base64.getEncoder().encodeToString(secret(credential).getBytes(UTF_8)));
    }
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    try (Stream<Path> files = Files.list(file.getParent())) {
      assertThat(files).as("no temporary file left behind").containsExactly(file);
    }
  }

  @Test
  void aSealedSecretOpensOnlyForItsAccessKeyId() throws IOException {
    CredentialStore.load(file, masterKey).add(alice);
    CredentialStore.load(file, masterKey).add(admin);

    editFile(credentials -> ((ObjectNode) credentials.get(1))
        .set("sealedSecretAccessKey", credentials.get(0).get("sealedSecretAccessKey")));

    assertThatThrownBy(() -> CredentialStore.load(file, masterKey))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(file + ": credentials[1]: ")
        .hasMessageContaining("does not open")
        .hasMessageNotContaining(secret(alice));
  }

  @Test
  void opensOnlyUnderItsMasterKey() {
    CredentialStore.load(file, masterKey).add(alice);

    MasterKey another = MasterKey.loadOrCreate(directory.resolve("another.key"));
    assertThatThrownBy(() -> CredentialStore.load(file, another))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(file + ": credentials[0]: ")
        .hasMessageContaining("does not open");
  }

  @Test
  void refusesAnAccessKeyIdTwice() throws IOException {
    CredentialStore store = CredentialStore.load(file, masterKey);
    store.add(alice);
    byte[] before = Files.readAllBytes(file);

    Credential mallory = new Credential(alice.accessKeyId(), SecretAccessKey.of("other".toCharArray()),
        "arn:aws:iam::111122223333:user/mallory");
    assertThatThrownBy(() -> store.add(mallory))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("access key id " + alice.accessKeyId() + " is already configured");
    assertThat(Files.readAllBytes(file)).isEqualTo(before);
    assertThat(store.lookup(alice.accessKeyId()).orElseThrow().principalArn())
        .isEqualTo("arn:aws:iam::111122223333:user/alice");

    editFile(credentials -> credentials.add(credentials.get(0).deepCopy()));
    assertThatThrownBy(() -> CredentialStore.load(file, masterKey))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(file + ": credentials[1]: access key id " + alice.accessKeyId() + " appears twice");
  }

  @Test
  void readsTheAdministratorFlagOfAnOlderFileOnlyWhereItMeantTheAccountRoot() throws IOException {
    Credential root = Credential.generate("arn:aws:iam::111122223333:root", random);
    CredentialStore.load(file, masterKey).add(root);
    CredentialStore.load(file, masterKey).add(alice);
    String current = Files.readString(file);
    assertThat(current).doesNotContain("administrator");
    // As the previous main wrote it: every entry with the flag, the root's true.
    String older = current.replace("\"principalArn\" : \"arn:aws:iam::111122223333:root\"",
            "\"principalArn\" : \"arn:aws:iam::111122223333:root\", \"administrator\": true")
        .replace("\"principalArn\" : \"arn:aws:iam::111122223333:user/alice\"",
            "\"principalArn\" : \"arn:aws:iam::111122223333:user/alice\", \"administrator\": false");
    assertThat(older).contains("\"administrator\": true").contains("\"administrator\": false");
    Files.writeString(file, older);

    CredentialStore store = CredentialStore.load(file, masterKey);
    assertThat(store.credentials()).extracting(Credential::principalArn)
        .containsExactly(root.principalArn(), alice.principalArn());
    store.add(admin);
    assertThat(Files.readString(file)).doesNotContain("administrator");

    Files.writeString(file, older.replace("\"administrator\": false", "\"administrator\": true"));
    assertThatThrownBy(() -> CredentialStore.load(file, masterKey))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(file + ": credentials[1]: 'administrator' is no longer read: attach the identity policy "
            + "KeyholdAdministrator to arn:aws:iam::111122223333:user/alice instead");
  }

  @Test
  void refusesAFileNotAsDocumented() throws IOException {
    Files.createDirectories(file.getParent());

    Files.writeString(file, "{\"credentials\": [{\"accessKeyId\": \"AKIAIOSFODNN7EXAMPLE\"}]}");
    assertThatThrownBy(() -> CredentialStore.load(file, masterKey))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(file + ": credentials[0]: every field is required: "
            + "accessKeyId, sealedSecretAccessKey, principalArn");

    Files.writeString(file, "{\"credentials\": [], \"administrators\": []}");
    assertThatThrownBy(() -> CredentialStore.load(file, masterKey))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(file + ": malformed: ")
        .hasMessageContaining("\"administrators\"");

    Files.writeString(file, "{}");
    assertThatThrownBy(() -> CredentialStore.load(file, masterKey))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(file + ": missing field 'credentials'");
  }

  @Test
  void checksAccessKeyIdsAndPrincipals() {
    SecretAccessKey secret = SecretAccessKey.of("secret".toCharArray());
    for (String arn : List.of("arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:user/division/team/bob", "arn:aws:iam::111122223333:role/KeyAdmin")) {
      assertThat(new Credential("AKIAIOSFODNN7EXAMPLE", secret, arn).accountId()).isEqualTo("111122223333");
    }
    for (String arn : List.of("arn:aws:iam::11112222333:root", "arn:aws-cn:iam::111122223333:root",
        "arn:aws:iam::111122223333:group/admins", "arn:aws:sts::111122223333:assumed-role/KeyAdmin/session",
        "arn:aws:iam::111122223333:user/")) {
      assertThatThrownBy(() -> new Credential("AKIAIOSFODNN7EXAMPLE", secret, arn))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(arn);
    }
    assertThat(new Credential("A".repeat(128), secret, "arn:aws:iam::111122223333:root").accessKeyId())
        .hasSize(128);
    for (String accessKeyId :
        List.of("AKIAIOSFODNN7EX", "akiaiosfodnn7example", "AKIA-IOSFODNN7EXAMPLE", "A".repeat(129))) {
      assertThatThrownBy(() -> new Credential(accessKeyId, secret, "arn:aws:iam::111122223333:root"))
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void generatesKeysShapedLikeAwsKeys() {
    assertThat(alice.accessKeyId()).matches("AKIA[A-Z2-7]{16}");
    assertThat(secret(alice)).matches("[A-Za-z0-9+/]{40}");
    assertThat(admin.accessKeyId()).isNotEqualTo(alice.accessKeyId());
    assertThat(secret(admin)).isNotEqualTo(secret(alice));
    assertThat(admin.caller()).isEqualTo(
        new Caller(admin.accessKeyId(), "arn:aws:iam::111122223333:role/ops/KeyAdmin", "111122223333"));
  }

  @Test
  @SuppressWarnings("ObjectToString") // guards against a future toString that would show a secret
  void neverShowsASecret() {
    CredentialStore store = CredentialStore.load(file, masterKey);
    store.add(alice);

    assertThat(alice.secretAccessKey()).hasToString("SecretAccessKey[redacted]");
    assertThat(alice.toString()).contains(alice.accessKeyId()).doesNotContain(secret(alice));
    assertThat(store.toString()).doesNotContain(secret(alice));
  }

  /** Rewrites the file's {@code credentials} array by hand, as an operator or an attacker might. */
  private void editFile(Consumer<ArrayNode> edit) throws IOException {
    ObjectNode json = (ObjectNode) JSON.readTree(file.toFile());
    edit.accept((ArrayNode) json.get("credentials"));
    JSON.writeValue(file.toFile(), json);
  }
}
