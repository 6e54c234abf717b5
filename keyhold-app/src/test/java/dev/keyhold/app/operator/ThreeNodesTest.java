package dev.keyhold.app.operator;

import static dev.keyhold.app.operator.OperatorSite.awaitWithin;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;
import software.amazon.awssdk.services.kms.model.CustomKeyStoresListEntry;
import software.amazon.awssdk.services.kms.model.KeyListEntry;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * Three nodes, each a process of its own started from docs/examples/node.yaml, on one real
 * PostgreSQL and one 2-HSM SoftHSM2 cluster, driven with the AWS SDK: a key store connected on node 1
 * is CONNECTED on all three; a key made on node 1 encrypts on node 2 and decrypts on node 3; a key
 * disabled on node 2 is refused on node 1 within a second; an alias moved on node 1, a policy put on
 * node 2 and a tag put on node 3 are seen on the others within a second, past what they cached;
 * ListKeys and DescribeCustomKeyStores are the same everywhere.
 */
class ThreeNodesTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(2);
  private static final Duration BOUND = Duration.ofSeconds(1);
  /** The account keeps the key, and may not encrypt with it. */
  private static final String NO_ENCRYPT = """
      {"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoEncrypt", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:Encrypt", "Resource": "*"}]}
      """;

  @TempDir Path work;

  @Test
  void threeNodesServeOneService() throws Exception {
    try (OperatorSite site = new OperatorSite(softhsm, work)) {
      OperatorSite.Node first = site.start("node-1");
      KmsClient one = first.client();
      KmsClient two = site.start("node-2").client();
      KmsClient three = site.start("node-3").client();

      String store = site.connectMainStore(first);
      for (KmsClient node : List.of(one, two, three)) {
        awaitWithin(Duration.ofSeconds(60), () -> node.describeCustomKeyStores(r -> r.customKeyStoreId(store))
            .customKeyStores().get(0).connectionState() == ConnectionStateType.CONNECTED);
      }

      String keyId = one.createKey(r -> r.description("three nodes")).keyMetadata().keyId(); // the default store
      SdkBytes blob = awaitEncrypt(two, keyId); // node 2 logs in to the store once it hears of the connect
      assertThat(awaitDecrypt(three, blob)).isEqualTo("across nodes");

      two.disableKey(r -> r.keyId(keyId));
      awaitWithin(BOUND, () -> errorOf(() -> one.encrypt(r -> r.keyId(keyId)
          .plaintext(SdkBytes.fromUtf8String("x")))).equals("DisabledException"));

      // An alias, a policy and a tag changed on one node reach the others within a second, past their caches.
      String a = one.createKey(r -> r.description("a")).keyMetadata().arn();
      String b = one.createKey(r -> r.description("b")).keyMetadata().arn();
      one.createAlias(r -> r.aliasName("alias/three-nodes").targetKeyId(a));
      awaitEncrypt(three, "alias/three-nodes"); // node 3 now holds the alias, and key a, in its cache
      awaitEncrypt(three, b);
      one.updateAlias(r -> r.aliasName("alias/three-nodes").targetKeyId(b));
      awaitWithin(BOUND, () -> three.encrypt(r -> r.keyId("alias/three-nodes")
          .plaintext(SdkBytes.fromUtf8String("x"))).keyId().equals(b));
      two.putKeyPolicy(r -> r.keyId(b).policyName("default").policy(NO_ENCRYPT));
      awaitWithin(BOUND, () -> errorOf(() -> three.encrypt(r -> r.keyId(b)
          .plaintext(SdkBytes.fromUtf8String("x")))).equals("AccessDeniedException"));
      three.tagResource(r -> r.keyId(a).tags(tag -> tag.tagKey("team").tagValue("three")));
      awaitWithin(BOUND, () -> one.listResourceTags(r -> r.keyId(a)).tags().stream()
          .anyMatch(tag -> tag.tagKey().equals("team") && tag.tagValue().equals("three")));

      List<String> listed = keys(one);
      assertThat(keys(two)).isEqualTo(listed);
      assertThat(keys(three)).isEqualTo(listed).contains(keyId);
      List<CustomKeyStoresListEntry> stores = one.describeCustomKeyStores().customKeyStores();
      assertThat(two.describeCustomKeyStores().customKeyStores()).isEqualTo(stores);
      assertThat(three.describeCustomKeyStores().customKeyStores()).isEqualTo(stores).hasSize(1);
    }
  }

  static SdkBytes awaitEncrypt(KmsClient client, String keyId) throws InterruptedException {
    SdkBytes[] blob = new SdkBytes[1];
    String[] lastError = {"none"};
    try {
      awaitWithin(Duration.ofSeconds(30), () -> {
        try {
          blob[0] = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("across nodes")))
              .ciphertextBlob();
          return true;
        } catch (KmsException e) {
          lastError[0] = e.getMessage();
          return false;
        }
      });
    } catch (AssertionError e) {
      throw new AssertionError("Encrypt with " + keyId + " kept failing; the last error: " + lastError[0], e);
    }
    return blob[0];
  }

  static String awaitDecrypt(KmsClient client, SdkBytes blob) throws InterruptedException {
    String[] plaintext = new String[1];
    awaitWithin(Duration.ofSeconds(30), () -> {
      try {
        plaintext[0] = client.decrypt(r -> r.ciphertextBlob(blob)).plaintext().asUtf8String();
        return true;
      } catch (KmsException e) {
        return false;
      }
    });
    return plaintext[0];
  }

  private static String errorOf(Runnable call) {
    KmsException e = catchThrowableOfType(KmsException.class, call::run);
    return e == null ? "none" : e.awsErrorDetails().errorCode();
  }

  private static List<String> keys(KmsClient client) {
    return client.listKeysPaginator(r -> r.limit(100)).keys().stream().map(KeyListEntry::keyId).toList();
  }
}
