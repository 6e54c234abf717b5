package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** TagResource, UntagResource, ListResourceTags; PutKeyPolicy, GetKeyPolicy, ListKeyPolicies. */
class TagsAndPoliciesTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private KmsKeys keys;
  private KeyTags tags;
  private KeyPolicies policies;
  private KeyMetadata key;

  @BeforeEach
  void createKey() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    fixture.open();
    keys = fixture.kmsKeys(Clock.systemUTC());
    tags = keys.tags();
    policies = keys.policies();
    String store = fixture.connectedStore("tags", cluster);
    key = keys.createKey(CreateKeyRequest.inCustomKeyStore(store, null));
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void tagsAreReplacedRemovedAndListed() {
    tags.tagResource(key.keyId(), List.of(new Tag("team", "red"), new Tag("cost", "")));
    tags.tagResource(key.arn(), List.of(new Tag("team", "blue")));
    tags.untagResource(key.keyId(), List.of("cost", "never-there"));

    assertThat(tags.listResourceTags(key.keyId(), null, null).tags()).containsExactly(new Tag("team", "blue"));
  }

  @Test
  void tagRulesAndMessages() {
    assertThat(error(() -> tags.tagResource(key.keyId(), List.of(new Tag("a", "1"), new Tag("a", "2")))))
        .hasMessage("Duplicate tag keys").extracting(e -> e.type()).isEqualTo(KmsErrorType.TagException);
    assertThat(error(() -> tags.tagResource(key.keyId(), List.of(new Tag("AWS:owner", "x")))))
        .hasMessage("Tags beginning with aws: are reserved");
    assertThat(error(() -> tags.tagResource(key.keyId(), List.of(new Tag("k".repeat(129), "v")))))
        .hasMessage("1 validation error detected: Value '" + "k".repeat(129) + "' at 'tags.1.member.tagKey' failed "
            + "to satisfy constraint: Member must have length less than or equal to 128");
    assertError(() -> tags.tagResource(key.keyId(), List.of(new Tag("k", "v".repeat(257)))),
        KmsErrorType.ValidationException);
    List<Tag> fifty = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      fifty.add(new Tag("tag-" + i, "v"));
    }
    tags.tagResource(key.keyId(), fifty);
    assertThat(error(() -> tags.tagResource(key.keyId(), List.of(new Tag("one-more", "v")))))
        .hasMessage("Too many tags");
    ListResourceTagsResponse page = tags.listResourceTags(key.keyId(), 20, null);
    assertThat(page.tags()).hasSize(20);
    assertThat(page.truncated()).isTrue();
    assertThat(tags.listResourceTags(key.keyId(), 50, page.nextMarker().orElseThrow()).tags()).hasSize(30);

    keys.deletions().scheduleKeyDeletion(key.keyId(), 7);
    assertError(() -> tags.tagResource(key.keyId(), List.of(new Tag("x", "y"))), KmsErrorType.KMSInvalidStateException);
    assertError(() -> tags.untagResource(key.keyId(), List.of("x")), KmsErrorType.KMSInvalidStateException);
    assertThat(tags.listResourceTags(key.keyId(), null, null).tags()).hasSize(50);
  }

  @Test
  void aNewKeyHasTheDefaultPolicyWhichCanBeReplaced() {
    String policy = policies.getKeyPolicy(key.keyId(), "default").policy();
    assertThat(policy).contains("\"AWS\" : \"arn:aws:iam::111122223333:root\"").contains("\"Action\" : \"kms:*\"");
    assertThat(policies.listKeyPolicies(key.keyId())).containsExactly("default");

    String mine = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
        + "[\"arn:aws:iam::111122223333:role/app\"]},\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\"],\"Resource\":\"*\","
        + "\"Condition\":{\"StringEquals\":{\"kms:EncryptionContext:tenant\":\"blue\"}}}]}";
    policies.putKeyPolicy(key.keyId(), null, mine);
    assertThat(policies.getKeyPolicy(key.arn(), null).policy()).isEqualTo(mine);
    keys.deletions().scheduleKeyDeletion(key.keyId(), 7);
    assertThat(policies.getKeyPolicy(key.keyId(), null).policyName()).isEqualTo("default");
  }

  @Test
  void createKeyTakesTagsAndAPolicy() throws Exception {
    String policy = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}";
    KeyMetadata tagged = keys.createKey(new CreateKeyRequest(null, null, null, "AWS_CLOUDHSM",
        key.customKeyStoreId().orElseThrow(), null, policy, List.of(new Tag("team", "red")), false));
    assertThat(tags.listResourceTags(tagged.keyId(), null, null).tags()).containsExactly(new Tag("team", "red"));
    assertThat(policies.getKeyPolicy(tagged.keyId(), null).policy()).isEqualTo(policy);
    assertError(() -> keys.createKey(new CreateKeyRequest(null, null, null, "AWS_CLOUDHSM",
        key.customKeyStoreId().orElseThrow(), null, "nonsense", null, null)),
        KmsErrorType.MalformedPolicyDocumentException);
    assertError(() -> keys.createKey(new CreateKeyRequest(null, null, null, "AWS_CLOUDHSM",
        key.customKeyStoreId().orElseThrow(), null, null, List.of(new Tag("aws:x", "y")), null)),
        KmsErrorType.TagException);
  }

  @Test
  void malformedPoliciesAreRefused() {
    for (String bad : List.of(
        "not json",
        "{\"Statement\":[]}",
        "{\"Version\":\"2020-01-01\",\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}",
        "{\"Statement\":{\"Effect\":\"Maybe\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}",
        "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}",
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"Martian\":\"x\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}}",
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":7,\"Resource\":\"*\"}}",
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\",\"Colour\":1}}",
        "{\"Statement\":{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}")) {
      assertThat(error(() -> policies.putKeyPolicy(key.keyId(), "default", bad)).type()).as(bad)
          .isEqualTo(KmsErrorType.MalformedPolicyDocumentException);
    }
    String big = "{\"Statement\":{\"Sid\":\"" + "x".repeat(33_000) + "\",\"Effect\":\"Allow\",\"Principal\":\"*\","
        + "\"Action\":\"kms:*\",\"Resource\":\"*\"}}";
    assertError(() -> policies.putKeyPolicy(key.keyId(), "default", big), KmsErrorType.LimitExceededException);
    assertError(() -> policies.putKeyPolicy(key.keyId(), "other", "{}"), KmsErrorType.ValidationException);
    assertError(() -> policies.putKeyPolicy(key.keyId(), "default", "{\"emoji\":\"\u2603\"}"),
        KmsErrorType.ValidationException);
  }
}
