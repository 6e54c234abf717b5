package dev.keyhold.kms.keystore;

import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterInUseException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterInvalidConfigurationException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterNotActiveException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterNotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.CloudHsmClusterNotRelatedException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreNameInUseException;
import static dev.keyhold.kms.error.KmsErrorType.CustomKeyStoreNotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.IncorrectTrustAnchorException;
import static dev.keyhold.kms.error.KmsErrorType.InvalidMarkerException;
import static dev.keyhold.kms.error.KmsErrorType.LimitExceededException;
import static dev.keyhold.kms.error.KmsErrorType.UnsupportedOperationException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static dev.keyhold.kms.keystore.KmsErrors.assertError;
import static dev.keyhold.kms.keystore.KmsErrors.error;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.cluster.HsmState;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Create, Describe, Update and Delete: every rule and exception that needs no connection. */
class CustomKeyStoresTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir Path data;
  private KeyStoreFixture fixture;
  private CustomKeyStores keyStores;
  private Cluster cluster;

  @BeforeEach
  void open() {
    fixture = new KeyStoreFixture(softhsm, data);
    cluster = fixture.newCluster(2);
    keyStores = fixture.open();
  }

  @AfterEach
  void close() throws Exception {
    fixture.close();
  }

  @Test
  void createsADisconnectedStore() {
    String id = keyStores.createCustomKeyStore(fixture.createRequest("first", cluster));

    CustomKeyStoresListEntry entry = fixture.describe(id);
    assertThat(id).matches("cks-[0-9a-f]{17}");
    assertThat(entry.customKeyStoreName()).isEqualTo("first");
    assertThat(entry.cloudHsmClusterId()).isEqualTo(cluster.clusterId());
    assertThat(entry.trustAnchorCertificate()).isEqualTo(cluster.trustAnchor().pem());
    assertThat(entry.connectionState()).isEqualTo(ConnectionState.DISCONNECTED);
    assertThat(entry.connectionErrorCode()).isEmpty();
    assertThat(entry.customKeyStoreType()).isEqualTo("AWS_CLOUDHSM");
  }

  @Test
  void anIdenticalRetryReturnsTheSameStore() {
    String id = keyStores.createCustomKeyStore(fixture.createRequest("retry", cluster));
    assertThat(keyStores.createCustomKeyStore(fixture.createRequest("retry", cluster))).isEqualTo(id);

    CreateCustomKeyStoreRequest otherPassword = new CreateCustomKeyStoreRequest("retry", cluster.clusterId(),
        cluster.trustAnchor().pem(), Pin.of("another-password".toCharArray()), null);
    assertError(() -> keyStores.createCustomKeyStore(otherPassword), CustomKeyStoreNameInUseException);
  }

  @Test
  void aClusterOrOneSharingItsBackupHistoryServesOneStore() {
    keyStores.createCustomKeyStore(fixture.createRequest("owner", cluster));
    assertError(() -> keyStores.createCustomKeyStore(fixture.createRequest("second", cluster)),
        CloudHsmClusterInUseException);

    Cluster restored = fixture.restoredFrom(cluster, 2);
    keyStores = fixture.open();
    assertError(() -> keyStores.createCustomKeyStore(fixture.createRequest("restored", restored)),
        CloudHsmClusterInUseException);
  }

  @Test
  void theTrustAnchorMustBeTheClusters() {
    Cluster other = fixture.newCluster(2);
    keyStores = fixture.open();
    CreateCustomKeyStoreRequest request = new CreateCustomKeyStoreRequest("wrong-ca", cluster.clusterId(),
        other.trustAnchor().pem(), fixture.kmsuserPin(), null);
    assertError(() -> keyStores.createCustomKeyStore(request), IncorrectTrustAnchorException);
  }

  @Test
  void theClusterMustExistAndHaveTwoActiveHsms() {
    CreateCustomKeyStoreRequest unknown = new CreateCustomKeyStoreRequest("unknown", "cluster-zzzzzzzzzzz",
        cluster.trustAnchor().pem(), fixture.kmsuserPin(), null);
    assertError(() -> keyStores.createCustomKeyStore(unknown), CloudHsmClusterNotFoundException);

    Cluster oneActive = fixture.withStates(fixture.newCluster(2), HsmState.ACTIVE, HsmState.DEGRADED);
    Cluster noneActive = fixture.withStates(fixture.newCluster(2), HsmState.DEGRADED, HsmState.DELETED);
    keyStores = fixture.open();
    assertError(() -> keyStores.createCustomKeyStore(fixture.createRequest("one", oneActive)),
        CloudHsmClusterInvalidConfigurationException);
    assertError(() -> keyStores.createCustomKeyStore(fixture.createRequest("none", noneActive)),
        CloudHsmClusterNotActiveException);
  }

  @Test
  void tenStoresAtMost() {
    List<Cluster> clusters = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      clusters.add(fixture.newCluster(2));
    }
    keyStores = fixture.open();
    keyStores.createCustomKeyStore(fixture.createRequest("store-0", cluster));
    for (int i = 1; i < 10; i++) {
      keyStores.createCustomKeyStore(fixture.createRequest("store-" + i, clusters.get(i)));
    }
    assertError(() -> keyStores.createCustomKeyStore(fixture.createRequest("store-10", clusters.get(0))),
        LimitExceededException);
  }

  @Test
  void badInputGetsAwsValidationMessages() {
    assertThat(error(() -> keyStores.createCustomKeyStore(fixture.createRequest("x".repeat(257), cluster))))
        .hasMessage("1 validation error detected: Value '" + "x".repeat(257) + "' at 'customKeyStoreName' failed to "
            + "satisfy constraint: Member must have length less than or equal to 256");
    CreateCustomKeyStoreRequest shortPassword = new CreateCustomKeyStoreRequest("short", cluster.clusterId(),
        cluster.trustAnchor().pem(), Pin.of("123456".toCharArray()), null);
    assertThat(error(() -> keyStores.createCustomKeyStore(shortPassword)))
        .hasMessage("1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: "
            + "Member must have length greater than or equal to 7")
        .hasMessageNotContaining("123456");
    CreateCustomKeyStoreRequest badCluster = new CreateCustomKeyStoreRequest("bad", "cluster-!!!!!!!!!!!",
        cluster.trustAnchor().pem(), fixture.kmsuserPin(), null);
    assertError(() -> keyStores.createCustomKeyStore(badCluster), ValidationException);
    CreateCustomKeyStoreRequest external = new CreateCustomKeyStoreRequest("xks", cluster.clusterId(),
        cluster.trustAnchor().pem(), fixture.kmsuserPin(), "EXTERNAL_KEY_STORE");
    assertError(() -> keyStores.createCustomKeyStore(external), UnsupportedOperationException);
    assertError(() -> keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest(null, null, null, null, null)),
        ValidationException);
  }

  @Test
  void describesByIdByNameOrPageByPage() {
    List<String> ids = new ArrayList<>();
    ids.add(keyStores.createCustomKeyStore(fixture.createRequest("page-0", cluster)));
    List<Cluster> more = List.of(fixture.newCluster(2), fixture.newCluster(2));
    keyStores = fixture.open();
    ids.add(keyStores.createCustomKeyStore(fixture.createRequest("page-1", more.get(0))));
    ids.add(keyStores.createCustomKeyStore(fixture.createRequest("page-2", more.get(1))));

    assertThat(keyStores.describeCustomKeyStores(new DescribeCustomKeyStoresRequest(null, "page-1", null, null))
        .customKeyStores()).extracting(CustomKeyStoresListEntry::customKeyStoreId).containsExactly(ids.get(1));
    DescribeCustomKeyStoresResponse first =
        keyStores.describeCustomKeyStores(new DescribeCustomKeyStoresRequest(null, null, 2, null));
    assertThat(first.truncated()).isTrue();
    DescribeCustomKeyStoresResponse second = keyStores.describeCustomKeyStores(
        new DescribeCustomKeyStoresRequest(null, null, 2, first.nextMarker().orElseThrow()));
    assertThat(second.truncated()).isFalse();
    assertThat(second.nextMarker()).isEmpty();
    List<String> paged = new ArrayList<>();
    first.customKeyStores().forEach(entry -> paged.add(entry.customKeyStoreId()));
    second.customKeyStores().forEach(entry -> paged.add(entry.customKeyStoreId()));
    assertThat(paged).containsExactlyElementsOf(ids);

    assertError(() -> fixture.describe("cks-00000000000000000"), CustomKeyStoreNotFoundException);
    assertError(() -> keyStores.describeCustomKeyStores(new DescribeCustomKeyStoresRequest(null, "nope", null, null)),
        CustomKeyStoreNotFoundException);
    assertError(() -> keyStores.describeCustomKeyStores(new DescribeCustomKeyStoresRequest(ids.get(0), "page-0", null,
        null)), ValidationException);
    assertError(() -> keyStores.describeCustomKeyStores(new DescribeCustomKeyStoresRequest(null, null, null,
        "no-such-marker")), InvalidMarkerException);
    assertError(() -> keyStores.describeCustomKeyStores(new DescribeCustomKeyStoresRequest(null, null, 0, null)),
        ValidationException);
  }

  @Test
  void updatesNameAndRelatedClusterAndRefusesUnrelatedOnes() {
    Cluster taken = fixture.newCluster(2);
    Cluster restored = fixture.restoredFrom(cluster, 2);
    Cluster unrelated = fixture.newCluster(2);
    keyStores = fixture.open();
    String id = keyStores.createCustomKeyStore(fixture.createRequest("before", cluster));
    String other = keyStores.createCustomKeyStore(fixture.createRequest("taken", taken));

    keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(id, "after", null, null));
    assertThat(fixture.describe(id).customKeyStoreName()).isEqualTo("after");
    assertError(() -> keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(id, "taken", null, null)),
        CustomKeyStoreNameInUseException);
    assertError(() -> keyStores.updateCustomKeyStore(
        new UpdateCustomKeyStoreRequest(id, null, null, unrelated.clusterId())), CloudHsmClusterNotRelatedException);
    keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest(id, null, null, restored.clusterId()));
    assertThat(fixture.describe(id).cloudHsmClusterId()).isEqualTo(restored.clusterId());
    assertError(() -> keyStores.updateCustomKeyStore(new UpdateCustomKeyStoreRequest("cks-00000000000000000", "x",
        null, null)), CustomKeyStoreNotFoundException);
    assertThat(other).isNotEqualTo(id);
  }

  @Test
  void deletesADisconnectedStoreAndLeavesTheCluster() {
    String id = keyStores.createCustomKeyStore(fixture.createRequest("doomed", cluster));
    keyStores.deleteCustomKeyStore(id);
    assertError(() -> fixture.describe(id), CustomKeyStoreNotFoundException);
    assertError(() -> keyStores.deleteCustomKeyStore(id), CustomKeyStoreNotFoundException);
    Hsm hsm = cluster.hsms().get(0);
    try (Pkcs11Module module = Pkcs11Module.load(hsm.module())) {
      assertThat(module.tokenLabels()).as("the HSM's token, as its library shows it").contains(hsm.tokenLabel());
    }
    assertThat(keyStores.createCustomKeyStore(fixture.createRequest("again", cluster))).isNotEqualTo(id);
  }
}
