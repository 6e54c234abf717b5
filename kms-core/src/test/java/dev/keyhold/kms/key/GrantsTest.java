package dev.keyhold.kms.key;

import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.keystore.KeyStoreFixture;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** CreateGrant, ListGrants, ListRetirableGrants and the deletion of grants, on keys in a real key store. */
class GrantsTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final String BOB = "arn:aws:iam::111122223333:user/bob";
  private static final String CAROL = "arn:aws:iam::111122223333:role/carol";

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private KmsKeys keys;
  private KeyGrants grants;
  private String storeId;
  private KeyMetadata key;

  @BeforeEach
  void createKey() throws Exception {
    fixture = new KeyStoreFixture(softhsm, data);
    Cluster cluster = fixture.newCluster(2);
    fixture.open();
    keys = fixture.kmsKeys(Clock.systemUTC());
    grants = new KeyGrants(fixture.metadata, keys, MasterKey.load(data.resolve("master.key")), KeyStoreFixture.ACCOUNT,
        Clock.systemUTC());
    storeId = fixture.connectedStore("grants", cluster);
    key = keys.createKey(CreateKeyRequest.inCustomKeyStore(storeId, "granted"));
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void aGrantIsSeenWithItsKeyAndGoesWhenDeleted() {
    CreateGrantResponse created = grants.createGrant(resolve(), request(BOB, CAROL, List.of("Encrypt", "Decrypt"),
        new GrantConstraints(Map.of("tenant", "blue"), null), "orders", null));

    assertThat(created.grantId()).matches("[0-9a-f]{64}");
    GrantListEntry grant = resolve().grants().get(0);
    assertThat(grant.grantId()).isEqualTo(created.grantId());
    assertThat(grant.keyId()).isEqualTo(key.arn());
    assertThat(grant.name()).isEqualTo("orders");
    assertThat(grant.granteePrincipal()).isEqualTo(BOB);
    assertThat(grant.retiringPrincipal()).isEqualTo(CAROL);
    assertThat(grant.issuingAccount()).isEqualTo("arn:aws:iam::111122223333:root");
    assertThat(grant.operations()).containsExactly("Encrypt", "Decrypt");
    assertThat(grant.constraints().encryptionContextSubset()).isEqualTo(Map.of("tenant", "blue"));
    assertThat(grant.allows(BOB, "111122223333", "Encrypt", Map.of("tenant", "blue", "more", "x"))).isTrue();
    assertThat(grant.allows(BOB, "111122223333", "Encrypt", Map.of("tenant", "red"))).isFalse();
    assertThat(grant.allows(BOB, "111122223333", "GenerateDataKey", Map.of("tenant", "blue"))).isFalse();
    assertThat(grant.allows(CAROL, "111122223333", "Encrypt", Map.of("tenant", "blue"))).isFalse();
    assertThat(grants.listGrants(resolve(), null, null, null, null).grants()).containsExactly(grant);
    assertThat(grants.listRetirableGrants(CAROL, null, null).grants()).containsExactly(grant);

    KeyGrants.NamedGrant byToken = grants.named(created.grantToken(), null, null);
    assertThat(byToken.grant()).isEqualTo(grant);
    grants.deleteGrant(byToken, null);

    assertThat(resolve().grants()).isEmpty();
    assertThat(grants.listRetirableGrants(CAROL, null, null).grants()).isEmpty();
    assertError(() -> grants.named(created.grantToken(), null, null), KmsErrorType.NotFoundException);
    assertError(() -> grants.deleteGrant(byToken, null), KmsErrorType.NotFoundException);
  }

  @Test
  void aGranteeMayGrantNoMoreThanItHas() {
    GrantListEntry parent = new GrantListEntry(key.arn(), "0".repeat(64), null, Instant.now(), BOB, null,
        "arn:aws:iam::111122223333:root", List.of("Encrypt", "Decrypt", "CreateGrant"),
        new GrantConstraints(Map.of("tenant", "blue"), null));
    GrantConstraints blue = new GrantConstraints(Map.of("tenant", "blue"), null);
    GrantConstraints blueEu = new GrantConstraints(Map.of("tenant", "blue", "region", "eu"), null);
    GrantConstraints exactlyBlueEu = new GrantConstraints(null, Map.of("tenant", "blue", "region", "eu"));

    assertThat(parent.allowsGrant(BOB, "111122223333", List.of("Encrypt"), blue)).isTrue();
    assertThat(parent.allowsGrant(BOB, "111122223333", List.of("Encrypt", "Decrypt"), blueEu)).isTrue();
    assertThat(parent.allowsGrant(BOB, "111122223333", List.of("Decrypt"), exactlyBlueEu)).isTrue();
    assertThat(parent.allowsGrant(BOB, "111122223333", List.of("GenerateDataKey"), blue)).as("another operation")
        .isFalse();
    assertThat(parent.allowsGrant(BOB, "111122223333", List.of("Encrypt"), null)).as("no constraint").isFalse();
    assertThat(parent.allowsGrant(BOB, "111122223333", List.of("Encrypt"),
        new GrantConstraints(Map.of("tenant", "red"), null))).isFalse();
    assertThat(parent.allowsGrant(CAROL, "111122223333", List.of("Encrypt"), blue)).as("not its grantee").isFalse();
    GrantListEntry exact = new GrantListEntry(key.arn(), "1".repeat(64), null, Instant.now(), BOB, null,
        "arn:aws:iam::111122223333:root", List.of("Encrypt", "CreateGrant"), exactlyBlueEu);
    assertThat(exact.allowsGrant(BOB, "111122223333", List.of("Encrypt"), exactlyBlueEu)).isTrue();
    assertThat(exact.allowsGrant(BOB, "111122223333", List.of("Encrypt"), blueEu)).isFalse();
    GrantListEntry withoutCreateGrant = new GrantListEntry(key.arn(), "2".repeat(64), null, Instant.now(),
        BOB, null, "arn:aws:iam::111122223333:root", List.of("Encrypt"), null);
    assertThat(withoutCreateGrant.allowsGrant(BOB, "111122223333", List.of("Encrypt"), null)).isFalse();
  }

  @Test
  void aNamedGrantIsCreatedOnceForTheSameParameters() {
    CreateGrantRequest request = request(BOB, null, List.of("Encrypt"), null, "once", null);
    CreateGrantResponse first = grants.createGrant(resolve(), request);
    CreateGrantResponse again = grants.createGrant(resolve(), request);
    CreateGrantResponse other = grants.createGrant(resolve(), request(BOB, null, List.of("Decrypt"), null, "once", null));
    CreateGrantResponse unnamed = grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"), null, null, null));

    assertThat(again.grantId()).isEqualTo(first.grantId());
    assertThat(again.grantToken()).as("a new token each time").isNotEqualTo(first.grantToken());
    assertThat(grants.named(again.grantToken(), null, null).grant().grantId()).isEqualTo(first.grantId());
    assertThat(other.grantId()).isNotEqualTo(first.grantId());
    assertThat(grants.listGrants(resolve(), null, null, null, null).grants()).extracting(GrantListEntry::grantId)
        .containsExactly(first.grantId(), other.grantId(), unnamed.grantId());
  }

  @Test
  void listsAPageAtATimeAndByGrantOrGrantee() {
    for (int i = 0; i < 3; i++) {
      grants.createGrant(resolve(), request(i == 2 ? CAROL : BOB, null, List.of("Encrypt"), null, null, null));
    }
    ListGrantsResponse first = grants.listGrants(resolve(), 2, null, null, null);
    assertThat(first.grants()).hasSize(2);
    assertThat(first.truncated()).isTrue();
    ListGrantsResponse rest = grants.listGrants(resolve(), 2, first.nextMarker().orElseThrow(), null, null);
    assertThat(rest.grants()).hasSize(1);
    assertThat(rest.truncated()).isFalse();
    assertThat(grants.listGrants(resolve(), null, null, null, CAROL).grants()).singleElement()
        .extracting(GrantListEntry::granteePrincipal).isEqualTo(CAROL);
    String id = first.grants().get(1).grantId();
    assertThat(grants.listGrants(resolve(), null, null, id, null).grants()).singleElement()
        .extracting(GrantListEntry::grantId).isEqualTo(id);
    assertError(() -> grants.listGrants(resolve(), null, "no-such-marker", null, null),
        KmsErrorType.InvalidMarkerException);
  }

  @Test
  void badInputGetsAwsErrors() {
    assertThat(error(() -> grants.createGrant(resolve(), request(null, null, List.of("Encrypt"), null, null, null))))
        .hasMessage("1 validation error detected: Value null at 'granteePrincipal' failed to satisfy constraint: "
            + "Member must not be null");
    assertThat(error(() -> grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt", "Fly"), null, null,
        null)))).hasMessageStartingWith("1 validation error detected: Value 'Fly' at 'operations.2.member' failed to "
            + "satisfy constraint: Member must satisfy enum value set: [Decrypt, Encrypt,");
    assertError(() -> grants.createGrant(resolve(), request(BOB, null, List.of(), null, null, null)),
        KmsErrorType.ValidationException);
    assertError(() -> grants.createGrant(resolve(), request("bob smith", null, List.of("Encrypt"), null, null, null)),
        KmsErrorType.ValidationException);
    assertError(() -> grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"), null, "no spaces", null)),
        KmsErrorType.ValidationException);
    assertError(() -> grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"),
        new GrantConstraints(Map.of("a", "b"), Map.of("a", "b")), null, null)), KmsErrorType.ValidationException);
    assertError(() -> grants.named(resolve(), "not-a-grant-id"), KmsErrorType.InvalidGrantIdException);
    assertError(() -> grants.named(resolve(), "0".repeat(64)), KmsErrorType.NotFoundException);
    assertError(() -> grants.named(null, null, null), KmsErrorType.ValidationException);

    String token = grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"), null, null, null)).grantToken();
    int middle = token.length() / 2; // a whole byte's bits, unlike the last character's
    String forged = token.substring(0, middle) + (token.charAt(middle) == 'A' ? 'B' : 'A') + token.substring(middle + 1);
    assertError(() -> grants.named(forged, null, null), KmsErrorType.InvalidGrantTokenException);
    assertError(() -> grants.named("not base64 at all!", null, null), KmsErrorType.InvalidGrantTokenException);
    assertError(() -> grants.checkGrantTokens(List.of(token, forged)), KmsErrorType.InvalidGrantTokenException);
    grants.checkGrantTokens(List.of(token));
  }

  @Test
  void aGrantNeedsAnEnabledOrUnavailableKeyAndADryRunCreatesNone() throws Exception {
    assertThat(error(() -> grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"), null, null, true))))
        .hasMessage("The request would have succeeded, but the DryRun option is set.")
        .extracting(e -> e.type()).isEqualTo(KmsErrorType.DryRunOperationException);
    assertThat(resolve().grants()).isEmpty();

    keys.disableKey(key.keyId());
    assertThat(error(() -> grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"), null, null, null))))
        .hasMessage(key.arn() + " is disabled.");
    keys.enableKey(key.keyId());
    fixture.keyStores.disconnectCustomKeyStore(storeId);
    CreateGrantResponse whileUnavailable =
        grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"), null, null, null));
    KeyGrants.NamedGrant named = grants.named(resolve(), whileUnavailable.grantId());
    assertError(() -> grants.deleteGrant(named, true), KmsErrorType.DryRunOperationException);
    grants.deleteGrant(named, null); // still there to delete: the dry run deleted nothing
    assertThat(resolve().grants()).isEmpty();

    keys.deletions().scheduleKeyDeletion(key.keyId(), 7);
    assertThat(error(() -> grants.createGrant(resolve(), request(BOB, null, List.of("Encrypt"), null, null, null))))
        .hasMessage(key.arn() + " is pending deletion.");
  }

  @Test
  void aKeysGrantsAreDeletedWithIt() {
    grants.createGrant(resolve(), request(BOB, CAROL, List.of("Encrypt"), null, null, null));
    keys.deletions().scheduleKeyDeletion(key.keyId(), 7);
    KmsKeys afterTheWindow = fixture.kmsKeys(Clock.offset(Clock.systemUTC(), Duration.ofDays(8)));

    assertThat(afterTheWindow.deletions().deleteDueKeys()).containsExactly(key.arn());

    assertThat(grants.listRetirableGrants(CAROL, null, null).grants()).isEmpty();
  }

  private ResolvedKey resolve() {
    return keys.resolver().resolve(key.keyId());
  }

  private CreateGrantRequest request(String grantee, String retiring, List<String> operations,
      GrantConstraints constraints, String name, Boolean dryRun) {
    return new CreateGrantRequest(key.keyId(), grantee, retiring, operations, constraints, name, dryRun);
  }
}
