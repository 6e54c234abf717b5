package dev.keyhold.app.operator;

import static dev.keyhold.app.operator.OperatorSite.awaitWithin;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.postgres.ThrowawayPostgres;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.DataKeySpec;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * PostgreSQL stops for 30 s under Encrypt, Decrypt and GenerateDataKey on two nodes: the crypto goes
 * on answering (the hot path reads no database), a change is refused with DependencyTimeoutException
 * within seconds and leaves nothing behind, as is a call by a caller whose credential no node has read
 * yet; once the database is back everything resumes without a restart, a change on one node reaching
 * the other.
 */
class PostgresOutageTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  private static final Duration OUTAGE = Duration.ofSeconds(30);

  @TempDir Path work;

  @Test
  void cryptoGoesOnThroughAnOutageAndChangesResumeAfterIt() throws Exception {
    try (OperatorSite site = new OperatorSite(softhsm, work)) {
      OperatorSite.Node first = site.start("node-1");
      OperatorSite.Node second = site.start("node-2");
      site.connectMainStore(first);
      KmsClient one = first.client();
      KmsClient two = second.client();
      String keyId = one.createKey(r -> r.description("outage")).keyMetadata().keyId();
      List<KmsClient> nodes = List.of(one, two);
      for (KmsClient client : nodes) {
        ThreeNodesTest.awaitEncrypt(client, keyId);
      }
      int keysBefore = one.listKeys().keys().size();
      Credential lateCredential = site.newCredential("arn:aws:iam::111122223333:user/late"); // not used before

      Load load = new Load(nodes, 4, client -> {
        SdkBytes blob = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("outage")))
            .ciphertextBlob();
        client.decrypt(r -> r.ciphertextBlob(blob));
        client.generateDataKey(r -> r.keyId(keyId).keySpec(DataKeySpec.AES_256));
        return 3;
      });

      ThrowawayPostgres.forThisJvm().stopForAnOutage();
      long stoppedAt = System.nanoTime();
      long refusedWithin = System.nanoTime();
      KmsException refused = null;
      try {
        two.createKey(r -> r.description("during the outage"));
      } catch (KmsException e) {
        refused = e;
      }
      refusedWithin = System.nanoTime() - refusedWithin;
      KmsException unknownCaller = catchThrowableOfType(KmsException.class,
          () -> first.clientAs(lateCredential).encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("x"))));
      Thread.sleep(Math.max(0, OUTAGE.toMillis() - (System.nanoTime() - stoppedAt) / 1_000_000));
      int callsDuringOutage = load.calls();
      ThrowawayPostgres.forThisJvm().startAgain();

      assertThat(refused).as("a change during the outage is refused").isNotNull();
      assertThat(refused.awsErrorDetails().errorCode()).isEqualTo("DependencyTimeoutException");
      assertThat(Duration.ofNanos(refusedWithin)).isLessThan(Duration.ofSeconds(20));
      assertThat(unknownCaller).as("a caller whose credential no node has read yet").isNotNull();
      assertThat(unknownCaller.awsErrorDetails().errorCode()).isEqualTo("DependencyTimeoutException");

      awaitWithin(Duration.ofSeconds(30), () -> {
        try {
          one.createKey(r -> r.description("after the outage"));
          return true;
        } catch (KmsException e) {
          return false;
        }
      });
      assertThat(load.stop()).as(() -> "crypto calls that failed; the nodes logged:\n" + first.loggedErrors() + "\n"
          + second.loggedErrors()).isEmpty();

      two.disableKey(r -> r.keyId(keyId));
      awaitWithin(Duration.ofSeconds(5), () -> {
        try {
          one.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("x")));
          return false;
        } catch (KmsException e) {
          return e.awsErrorDetails().errorCode().equals("DisabledException");
        }
      });
      assertThat(callsDuringOutage).isPositive();
      assertThat(one.listKeys().keys()).hasSize(keysBefore + 1); // the refused CreateKey left nothing
      System.out.printf("%d crypto calls answered through a %s outage of PostgreSQL; none failed%n",
          callsDuringOutage, OUTAGE);
    }
  }
}
