package dev.keyhold.server.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.postgres.ThrowawayPostgres;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Credentials in the metadata store, seen by two nodes on one real PostgreSQL: one created on a node
 * works on the other, and one disabled or deleted there is refused on the other within a second.
 */
class MetadataCredentialsTest {
  private static final Duration BOUND = Duration.ofSeconds(1);

  @TempDir Path data;
  private JdbcMetadataStore storeA;
  private JdbcMetadataStore storeB;
  private MetadataCredentials nodeA;
  private MetadataCredentials nodeB;

  @BeforeEach
  void twoNodes() {
    String url = ThrowawayPostgres.forThisJvm().newDatabase();
    MasterKey masterKey = MasterKey.loadOrCreate(data.resolve("master.key"));
    storeA = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "");
    storeB = JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "");
    nodeA = new MetadataCredentials(storeA, masterKey, Clock.systemUTC());
    nodeB = new MetadataCredentials(storeB, masterKey, Clock.systemUTC());
  }

  @AfterEach
  void close() {
    storeA.close();
    storeB.close();
  }

  @Test
  void aCredentialCreatedOnOneNodeWorksOnTheOtherUntilItIsDisabledOrDeleted() throws InterruptedException {
    Credential alice = Credential.generate("arn:aws:iam::111122223333:user/alice", new SecureRandom());
    assertThat(nodeB.lookup(alice.accessKeyId())).isEmpty(); // remembered as unknown, until a change

    nodeA.create(alice);

    assertWithinBound(() -> nodeB.lookup(alice.accessKeyId()).isPresent());
    Credential seen = nodeB.lookup(alice.accessKeyId()).orElseThrow();
    assertThat(seen.principalArn()).isEqualTo(alice.principalArn());
    String seenSecret = seen.secretAccessKey().withChars(String::valueOf);
    assertThat(seenSecret).isEqualTo(alice.secretAccessKey().withChars(String::valueOf));
    assertThat(nodeB.list()).containsExactly(
        new MetadataCredentials.Entry(alice.accessKeyId(), alice.principalArn(), true));

    assertThat(nodeA.disable(alice.accessKeyId())).isTrue();
    assertWithinBound(() -> nodeB.lookup(alice.accessKeyId()).isEmpty());
    assertThat(nodeB.list()).extracting(MetadataCredentials.Entry::active).containsExactly(false);

    assertThat(nodeA.delete(alice.accessKeyId())).isTrue();
    assertThat(nodeB.list()).isEmpty();
    assertThat(nodeA.delete(alice.accessKeyId())).isFalse();
  }

  @Test
  void anAccessKeyIdIsTakenOnce() {
    Credential bob = Credential.generate("arn:aws:iam::111122223333:user/bob", new SecureRandom());
    nodeA.create(bob);

    assertThatThrownBy(() -> nodeB.create(bob)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("access key id " + bob.accessKeyId() + " is already configured");
  }

  private static void assertWithinBound(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("seen within %s", BOUND).isLessThan(deadline);
      Thread.sleep(10);
    }
  }
}
