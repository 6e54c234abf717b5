package dev.keyhold.kms.keystore;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.google.common.io.BaseEncoding;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** What the service stores survives a restart, and no secret is ever stored or logged in clear. */
class KeyStorePersistenceTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;

  @Test
  void everythingIsStillThereUnchangedAfterARestart() throws Exception {
    KeyStoreFixture fixture = new KeyStoreFixture(softhsm, data);
    Cluster first = fixture.newCluster(2);
    Cluster second = fixture.newCluster(2);
    Cluster third = fixture.newCluster(2);
    CustomKeyStores keyStores = fixture.open();
    String connected = keyStores.createCustomKeyStore(fixture.createRequest("connected", first));
    String renamed = keyStores.createCustomKeyStore(fixture.createRequest("to-rename", second));
    String failed = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest("failed", third.clusterId(),
        third.trustAnchor().pem(), Pin.of("wrong-password".toCharArray()), null));
    keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(renamed, "renamed", null, null));
    keyStores.connectCustomKeyStore(connected);
    keyStores.connectCustomKeyStore(failed);
    fixture.awaitSettled(connected);
    fixture.awaitSettled(failed);
    List<CustomKeyStoresListEntry> before =
        keyStores.describeCustomKeyStores(DescribeCustomKeyStoresRequest.all()).customKeyStores();

    for (Token hsm : fixture.connections.connected(connected).orElseThrow().tokens().values()) {
      // For a listing long enough to lose a race with this thread. Not behind a CloudHSM slot: the
      // stand-in matches every key of its HSMs at each login, and the restart's would pass its deadline.
      if (hsm.profile() != TokenProfile.AWS_CLOUDHSM) {
        fillWithKeys(hsm, 200);
      }
    }

    fixture.stop();
    keyStores = fixture.open();
    keyStores.resume();
    assertThat(fixture.connections.connected(connected).orElseThrow().tokens().values())
        .as("a store connected before the restart serves at once, its handle indexes filled")
        .allMatch(Token::keyIndexFilled);
    fixture.awaitSettled(connected);

    assertThat(keyStores.describeCustomKeyStores(DescribeCustomKeyStoresRequest.all()).customKeyStores())
        .containsExactlyElementsOf(before);
    assertThat(fixture.describe(connected).connectionState()).isEqualTo(ConnectionState.CONNECTED);
    assertThat(fixture.connections.connected(connected).orElseThrow().tokens()).hasSize(2);
    assertThat(fixture.describe(failed).connectionErrorCode()).contains(ConnectionErrorCode.INVALID_CREDENTIALS);
    fixture.close();
  }

  private static void fillWithKeys(Token hsm, int count) {
    for (int i = 0; i < count; i++) {
      hsm.generateAesKey(AesKeyTemplate.builder(AesKey.of("filler-" + i, new byte[] {(byte) (i >> 8), (byte) i}))
          .build());
    }
  }

  @Test
  void noPasswordOrMasterKeyInTheDataDirectoryOrTheLogs() throws Exception {
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    logs.start();
    root.addAppender(logs);
    root.setLevel(Level.TRACE);
    List<Pin> passwords = new ArrayList<>();
    passwords.add(softhsm.kmsuserPin());
    Pin operatorPassword = Pin.of("the-operators-own-password".toCharArray());
    passwords.add(operatorPassword);
    try {
      KeyStoreFixture fixture = new KeyStoreFixture(softhsm, data);
      Cluster cluster = fixture.newCluster(2);
      CustomKeyStores keyStores = fixture.open();
      String id = keyStores.createCustomKeyStore(fixture.createRequest("secretive", cluster));
      keyStores.connectCustomKeyStore(id);
      fixture.awaitSettled(id);
      keyStores.disconnectCustomKeyStore(id);
      MasterKey masterKey = MasterKey.loadOrCreate(data.resolve("master.key"));
      passwords.add(masterKey.open(fixture.metadata.inTransaction(c -> KeyStoreTable.byId(c, id)).orElseThrow().password, id));
      keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(id, null, operatorPassword, null));
      keyStores.connectCustomKeyStore(id); // fails: the HSMs hold the rotated password, not the operator's
      assertThat(fixture.awaitSettled(id).connectionState()).isEqualTo(ConnectionState.FAILED);
      fixture.stop();
    } finally {
      root.detachAppender(logs);
      root.setLevel(Level.INFO);
    }

    byte[] key = Files.readAllBytes(data.resolve("master.key"));
    List<String> forbidden = List.of(new String(key, StandardCharsets.ISO_8859_1),
        BaseEncoding.base64().encode(key), BaseEncoding.base16().lowerCase().encode(key));
    for (Path file : filesIn(data)) {
      if (file.getFileName().toString().equals("master.key")) {
        continue;
      }
      String content = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
      for (Pin password : passwords) {
        assertThat(password.appearsIn(content)).as("a password in %s", file).isFalse();
      }
      assertThat(forbidden).noneMatch(content::contains);
    }
    assertThat(logs.list).isNotEmpty();
    for (ILoggingEvent event : logs.list) {
      String line = event.getFormattedMessage()
          + (event.getThrowableProxy() == null ? "" : event.getThrowableProxy().getMessage());
      for (Pin password : passwords) {
        assertThat(password.appearsIn(line)).as("a password in the log line %s", line).isFalse();
      }
      assertThat(forbidden).noneMatch(line::contains);
    }
  }

  /**
   * Keyhold's files in {@code directory}: not the CloudHSM stand-in's own state, which the fixture keeps
   * there and which holds the backing tokens' PIN as an HSM holds its users' (SoftHSM2's tokens live
   * outside the data directory).
   */
  private static List<Path> filesIn(Path directory) throws IOException {
    try (Stream<Path> files = Files.walk(directory)) {
      return files.filter(Files::isRegularFile)
          .filter(file -> !directory.relativize(file).getName(0).toString().startsWith(KeyStoreFixture.STAND_IN_PREFIX))
          .toList();
    }
  }
}
