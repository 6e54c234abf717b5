package dev.keyhold.cluster;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.common.collect.ImmutableList;
import dev.keyhold.pkcs11.TokenProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ClusterFileTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path SOFTHSM = Path.of("/usr/lib/softhsm/libsofthsm2.so");
  private static final Path CLOUDHSM = Path.of("/opt/cloudhsm/lib/libcloudhsm_pkcs11.so");
  private static final String ALL_STATES = "[CREATE_IN_PROGRESS, ACTIVE, DEGRADED, DELETE_IN_PROGRESS, DELETED]";

  @TempDir Path dir;
  private Path file;
  private final TrustAnchor anchor = TestCertificates.anchor("cluster-abcdefghijk customer CA");

  @BeforeEach
  void writeTheCertificate() throws Exception {
    file = dir.resolve("clusters.json");
    Files.writeString(dir.resolve("customerCA.crt"), anchor.pem());
  }

  @Test
  void readingWhatWasWrittenGivesEqualClusters() throws Exception {
    TrustAnchor other = TestCertificates.anchor("other CA");
    Cluster local = Cluster.of("cluster-abcdefghijk", List.of(
        Hsm.of("hsm-aaaaaaaaaaa", SOFTHSM, "cluster-abcdefghijk/hsm1", TokenProfile.SOFTHSM2, HsmState.ACTIVE),
        Hsm.of("hsm-bbbbbbbbbbb", SOFTHSM, "cluster-abcdefghijk/hsm2", TokenProfile.SOFTHSM2, HsmState.DEGRADED)),
        anchor);
    Cluster restored = Cluster.of("cluster-rrrrrrrrrrrrrrrr", List.of(), anchor);
    Cluster cloud = Cluster.of("cluster-ccccccccccc", List.of(
        Hsm.of("hsm-ccccccccccc", CLOUDHSM, "hsm1", TokenProfile.AWS_CLOUDHSM, HsmState.ACTIVE),
        Hsm.of("hsm-ddddddddddd", CLOUDHSM, "hsm1", TokenProfile.AWS_CLOUDHSM, HsmState.CREATE_IN_PROGRESS)),
        other).withCloudHsmCli(new CloudHsmCliConfig(Path.of("/opt/cloudhsm/bin/cloudhsm-cli"), true));
    ClusterRegistry registry = ClusterRegistry.of(List.of(local, restored, cloud));

    ClusterFile.write(file, registry);
    ClusterRegistry read = ClusterFile.read(file);

    assertThat(read).isEqualTo(registry);
    assertThat(read.all()).containsExactly(local, restored, cloud);
    assertThat(read.find("cluster-rrrrrrrrrrrrrrrr").orElseThrow().sharesBackupHistoryWith(local)).isTrue();
    try (Stream<Path> files = Files.list(dir)) {
      assertThat(files.map(path -> path.getFileName().toString()))
          .as("no temporary file left")
          .containsExactlyInAnyOrder("clusters.json", "customerCA.crt", "cluster-abcdefghijk-customerCA.crt",
              "cluster-rrrrrrrrrrrrrrrr-customerCA.crt", "cluster-ccccccccccc-customerCA.crt");
    }
    assertThat(Files.readString(dir.resolve("cluster-ccccccccccc-customerCA.crt"))).isEqualTo(other.pem());
  }

  @Test
  void writesTheDocumentedFieldNames() throws Exception {
    ClusterFile.write(file, ClusterRegistry.of(List.of(Cluster.of("cluster-abcdefghijk", List.of(
        Hsm.of("hsm-aaaaaaaaaaa", SOFTHSM, "cluster-abcdefghijk/hsm1", TokenProfile.SOFTHSM2, HsmState.ACTIVE)),
        anchor))));

    JsonNode written = JSON.readTree(file.toFile());
    assertThat(ImmutableList.copyOf(written.fieldNames())).containsExactly("clusters");
    JsonNode cluster = written.get("clusters").get(0);
    assertThat(ImmutableList.copyOf(cluster.fieldNames()))
        .containsExactly("clusterId", "trustAnchorCertificate", "hsms");
    assertThat(cluster.get("trustAnchorCertificate").asText()).isEqualTo("cluster-abcdefghijk-customerCA.crt");
    JsonNode hsm = cluster.get("hsms").get(0);
    assertThat(ImmutableList.copyOf(hsm.fieldNames()))
        .containsExactly("hsmId", "module", "tokenLabel", "profile", "state");
    assertThat(hsm.get("module").asText()).isEqualTo("/usr/lib/softhsm/libsofthsm2.so");
    assertThat(hsm.get("profile").asText()).isEqualTo("SOFTHSM2");
    assertThat(hsm.get("state").asText()).isEqualTo("ACTIVE");
  }

  @Test
  void writingAgainReplacesTheFile() {
    Cluster first = Cluster.of("cluster-abcdefghijk", List.of(), anchor);
    Cluster second = Cluster.of("cluster-bbbbbbbbbbb", List.of(), anchor);
    ClusterFile.write(file, ClusterRegistry.of(List.of(first)));

    ClusterFile.write(file, ClusterFile.read(file).with(second));

    assertThat(ClusterFile.read(file).all()).containsExactly(first, second);
  }

  @Test
  void aMissingFileHoldsNoClusters() {
    assertThat(ClusterFile.read(dir.resolve("absent.json"))).isEqualTo(ClusterRegistry.empty());
  }

  @Test
  void anUnreadableFileIsAnIoError() {
    assertThatThrownBy(() -> ClusterFile.read(dir))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessage("cannot read the clusters file " + dir);
  }

  @Test
  void readsTheDocumentedExample() throws Exception {
    Files.writeString(file, """
        {"clusters": [
          {"clusterId": "cluster-abcdefghijk",
           "trustAnchorCertificate": "customerCA.crt",
           "hsms": [
             {"hsmId": "hsm-abcdefghijk", "module": "/usr/lib/softhsm/libsofthsm2.so",
              "tokenLabel": "cluster-abcdefghijk/hsm1", "profile": "SOFTHSM2", "state": "ACTIVE"}
           ]}
        ]}
        """);

    assertThat(ClusterFile.read(file).all()).containsExactly(Cluster.of("cluster-abcdefghijk", List.of(
        Hsm.of("hsm-abcdefghijk", SOFTHSM, "cluster-abcdefghijk/hsm1", TokenProfile.SOFTHSM2, HsmState.ACTIVE)),
        anchor));
  }

  @Test
  void readsAClusterWithItsCloudHsmCliWhoseMultiClusterFlagMayBeLeftOut() throws Exception {
    Files.writeString(file, """
        {"clusters": [
          {"clusterId": "cluster-jxhlf7644ne",
           "trustAnchorCertificate": "customerCA.crt",
           "cloudhsmCli": {"executable": "/opt/cloudhsm/bin/cloudhsm-cli"},
           "hsms": [
             {"hsmId": "hsm-ucd6jrxwsrc", "module": "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so",
              "tokenLabel": "hsm1", "profile": "AWS_CLOUDHSM", "state": "ACTIVE"}
           ]}
        ]}
        """);

    Cluster read = ClusterFile.read(file).all().get(0);

    assertThat(read.cloudHsmCli()).contains(new CloudHsmCliConfig(Path.of("/opt/cloudhsm/bin/cloudhsm-cli"), false));
  }

  @Test
  void refusesACloudHsmCliWithoutAnAbsoluteExecutable() throws Exception {
    Files.writeString(file, """
        {"clusters": [
          {"clusterId": "cluster-jxhlf7644ne", "trustAnchorCertificate": "customerCA.crt", "hsms": [],
           "cloudhsmCli": {"executable": "cloudhsm-cli"}}
        ]}
        """);

    assertThatThrownBy(() -> ClusterFile.read(file))
        .isInstanceOf(InvalidClusterFileException.class)
        .hasMessageContaining("clusters[0] (cluster-jxhlf7644ne): the CloudHSM CLI's path must be absolute: cloudhsm-cli");
  }

  @Test
  void resolvesARelativeCertificatePathAgainstTheFilesDirectoryNotTheWorkingDirectory() throws Exception {
    Path config = Files.createDirectories(dir.resolve("etc/keyhold"));
    Files.createDirectories(config.resolve("certs"));
    Files.writeString(config.resolve("certs/ca.pem"), anchor.pem());
    Path nested = config.resolve("clusters.json");
    Files.writeString(nested, document(doc -> cluster(doc).put("trustAnchorCertificate", "certs/ca.pem")));

    assertThat(ClusterFile.read(nested).find("cluster-abcdefghijk").orElseThrow().trustAnchor()).isEqualTo(anchor);
  }

  @Test
  void acceptsAnAbsoluteCertificatePath() throws Exception {
    Path elsewhere = Files.createDirectories(dir.resolve("opt/cloudhsm/etc")).resolve("customerCA.crt");
    TrustAnchor cloudAnchor = TestCertificates.anchor("CloudHSM customer CA");
    Files.writeString(elsewhere, cloudAnchor.pem());
    Path nested = Files.createDirectories(dir.resolve("etc")).resolve("clusters.json");
    Files.writeString(nested, document(doc -> cluster(doc).put("trustAnchorCertificate", elsewhere.toString())));

    assertThat(ClusterFile.read(nested).find("cluster-abcdefghijk").orElseThrow().trustAnchor()).isEqualTo(cloudAnchor);
  }

  @Test
  void malformedJsonNamesTheFileAndThePlace() throws Exception {
    Files.writeString(file, "{\"clusters\": [\n  {\"clusterId\": \"cluster-abcdefghijk\",, }\n]}");

    assertThatThrownBy(() -> ClusterFile.read(file))
        .isInstanceOf(InvalidClusterFileException.class)
        .hasMessageStartingWith(file + ": malformed at line 2, column 39 (clusters[0]): Unexpected character (','");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "[]", "{\"clusters\": {}}", "{\"clusters\": []} {}"})
  void rejectsDocumentsOfTheWrongShape(String text) throws Exception {
    Files.writeString(file, text);

    assertThatThrownBy(() -> ClusterFile.read(file))
        .isInstanceOf(InvalidClusterFileException.class)
        .hasMessageStartingWith(file + ": malformed");
  }

  @Test
  void rejectsANullDocument() {
    assertInvalid("null", "the document: null where an object belongs");
  }

  @Test
  void rejectsAMissingClustersField() {
    assertInvalid("{}", "the document: missing field 'clusters'");
  }

  @Test
  void rejectsUnknownFieldsWithTheirPath() throws Exception {
    Files.writeString(file, document(doc -> hsm(doc, 1).put("colour", "blue")));

    assertThatThrownBy(() -> ClusterFile.read(file))
        .isInstanceOf(InvalidClusterFileException.class)
        .hasMessageStartingWith(file + ": malformed at line ")
        .hasMessageEndingWith("(clusters[0].hsms[1].colour): unknown field 'colour'");
  }

  @Test
  void rejectsDuplicateJsonFields() throws Exception {
    Files.writeString(file, "{\"clusters\": [], \"clusters\": []}");

    assertThatThrownBy(() -> ClusterFile.read(file))
        .isInstanceOf(InvalidClusterFileException.class)
        .hasMessageStartingWith(file + ": malformed at line 1")
        .hasMessageContaining("Duplicate field 'clusters'");
  }

  @Test
  void rejectsANullCluster() {
    assertInvalid(document(doc -> ((ArrayNode) doc.get("clusters")).addNull()),
        "clusters[1]: null where an object belongs");
  }

  @ParameterizedTest
  @ValueSource(strings = {"trustAnchorCertificate", "hsms"})
  void rejectsAMissingClusterField(String field) {
    assertInvalid(document(doc -> cluster(doc).remove(field)),
        "clusters[0] (cluster-abcdefghijk): missing field '" + field + "'");
  }

  @Test
  void rejectsAMissingClusterId() {
    assertInvalid(document(doc -> cluster(doc).remove("clusterId")), "clusters[0]: missing field 'clusterId'");
  }

  @ParameterizedTest
  @ValueSource(strings = {"module", "tokenLabel", "profile", "state"})
  void rejectsAMissingHsmField(String field) {
    assertInvalid(document(doc -> hsm(doc, 1).remove(field)),
        "clusters[0] (cluster-abcdefghijk): hsms[1] (hsm-bbbbbbbbbbb): missing field '" + field + "'");
  }

  @Test
  void rejectsAMissingHsmId() {
    assertInvalid(document(doc -> hsm(doc, 0).putNull("hsmId")),
        "clusters[0] (cluster-abcdefghijk): hsms[0]: missing field 'hsmId'");
  }

  @Test
  void rejectsAnInvalidClusterId() {
    assertInvalid(document(doc -> cluster(doc).put("clusterId", "cluster-ABC")),
        "clusters[0] (cluster-ABC): a cluster id is 'cluster-' and 11 to 16 characters of a-z and 2-7: 'cluster-ABC'");
  }

  @Test
  void rejectsAnInvalidHsmId() {
    assertInvalid(document(doc -> hsm(doc, 1).put("hsmId", "hsm-1")),
        "clusters[0] (cluster-abcdefghijk): hsms[1] (hsm-1): an HSM id is 'hsm-' and 11 to 16 characters of a-z and "
            + "2-7: 'hsm-1'");
  }

  @Test
  void rejectsAnUnknownProfile() {
    assertInvalid(document(doc -> hsm(doc, 0).put("profile", "softhsm2")),
        "clusters[0] (cluster-abcdefghijk): hsms[0] (hsm-aaaaaaaaaaa): unknown profile 'softhsm2'; one of "
            + "[SOFTHSM2, AWS_CLOUDHSM]");
  }

  @Test
  void rejectsAnUnknownState() {
    assertInvalid(document(doc -> hsm(doc, 0).put("state", "RUNNING")),
        "clusters[0] (cluster-abcdefghijk): hsms[0] (hsm-aaaaaaaaaaa): unknown state 'RUNNING'; one of " + ALL_STATES);
  }

  @Test
  void rejectsARelativeModulePath() {
    assertInvalid(document(doc -> hsm(doc, 0).put("module", "libsofthsm2.so")),
        "clusters[0] (cluster-abcdefghijk): hsms[0] (hsm-aaaaaaaaaaa): the PKCS#11 module of hsm-aaaaaaaaaaa must be "
            + "an absolute path: 'libsofthsm2.so'");
  }

  @Test
  void rejectsAnOverlongTokenLabel() {
    assertInvalid(document(doc -> hsm(doc, 0).put("tokenLabel", "cluster-abcdefghijklmnop/hsm1/extra")),
        "clusters[0] (cluster-abcdefghijk): hsms[0] (hsm-aaaaaaaaaaa): the token label of hsm-aaaaaaaaaaa must have "
            + "1 to 32 characters and no outer blanks: 'cluster-abcdefghijklmnop/hsm1/extra'");
  }

  @Test
  void rejectsAClusterIdTwice() {
    assertInvalid(document(doc -> {
      ObjectNode copy = cluster(doc).deepCopy();
      copy.set("hsms", JSON.createArrayNode());
      ((ArrayNode) doc.get("clusters")).add(copy);
    }), "cluster id 'cluster-abcdefghijk' appears twice");
  }

  @Test
  void rejectsAnHsmIdTwiceInACluster() {
    assertInvalid(document(doc -> hsm(doc, 1).put("hsmId", "hsm-aaaaaaaaaaa")),
        "clusters[0] (cluster-abcdefghijk): HSM id 'hsm-aaaaaaaaaaa' appears twice in cluster cluster-abcdefghijk");
  }

  @Test
  void rejectsAnHsmIdInTwoClusters() {
    assertInvalid(document(doc -> secondCluster(doc).put("tokenLabel", "other/hsm1")),
        "HSM id 'hsm-aaaaaaaaaaa' appears in cluster cluster-abcdefghijk and in cluster cluster-bbbbbbbbbbb");
  }

  @Test
  void rejectsATokenInTwoClusters() {
    assertInvalid(document(doc -> secondCluster(doc).put("hsmId", "hsm-zzzzzzzzzzz")),
        "token 'cluster-abcdefghijk/hsm1' of module /usr/lib/softhsm/libsofthsm2.so belongs to cluster "
            + "cluster-abcdefghijk and to cluster cluster-bbbbbbbbbbb (hsm-zzzzzzzzzzz); "
            + "a token holds one cluster's keys");
  }

  @Test
  void rejectsAMissingCertificate() {
    Path missing = dir.resolve("missing.crt");
    assertInvalid(document(doc -> cluster(doc).put("trustAnchorCertificate", "missing.crt")),
        "clusters[0] (cluster-abcdefghijk): cannot read trust anchor certificate " + missing
            + ": java.nio.file.NoSuchFileException: " + missing);
  }

  @Test
  void rejectsACertificateFileWithoutACertificate() throws Exception {
    Path key = dir.resolve("key.pem");
    Files.writeString(key, TestCertificates.pem("PRIVATE KEY", TestCertificates.keyPair().getPrivate().getEncoded()));
    Path der = dir.resolve("ca.der");
    Files.write(der, anchor.certificate().getEncoded());

    assertInvalid(document(doc -> cluster(doc).put("trustAnchorCertificate", "key.pem")),
        "clusters[0] (cluster-abcdefghijk): trust anchor certificate " + key
            + ": the PEM block is a PRIVATE KEY, not a CERTIFICATE");
    assertInvalid(document(doc -> cluster(doc).put("trustAnchorCertificate", "ca.der")),
        "clusters[0] (cluster-abcdefghijk): trust anchor certificate " + der
            + ": no PEM block (-----BEGIN CERTIFICATE-----) found");
  }

  private void assertInvalid(String text, String detail) {
    try {
      Files.writeString(file, text, UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    assertThatThrownBy(() -> ClusterFile.read(file))
        .isInstanceOfSatisfying(InvalidClusterFileException.class, e -> assertThat(e.file()).isEqualTo(file))
        .hasMessage(file + ": " + detail);
  }

  /** A valid file with one cluster of two SoftHSM2 HSMs, changed by {@code change}. */
  private static String document(Consumer<ObjectNode> change) {
    ObjectNode doc = JSON.createObjectNode();
    ObjectNode cluster = doc.putArray("clusters").addObject()
        .put("clusterId", "cluster-abcdefghijk")
        .put("trustAnchorCertificate", "customerCA.crt");
    ArrayNode hsms = cluster.putArray("hsms");
    for (String n : List.of("1", "2")) {
      hsms.addObject()
          .put("hsmId", n.equals("1") ? "hsm-aaaaaaaaaaa" : "hsm-bbbbbbbbbbb")
          .put("module", SOFTHSM.toString())
          .put("tokenLabel", "cluster-abcdefghijk/hsm" + n)
          .put("profile", "SOFTHSM2")
          .put("state", "ACTIVE");
    }
    change.accept(doc);
    return doc.toPrettyString();
  }

  private static ObjectNode cluster(ObjectNode doc) {
    return (ObjectNode) doc.get("clusters").get(0);
  }

  private static ObjectNode hsm(ObjectNode doc, int index) {
    return (ObjectNode) cluster(doc).get("hsms").get(index);
  }

  /** Adds cluster-bbbbbbbbbbb with a copy of HSM 1 of the first cluster; returns that copy. */
  private static ObjectNode secondCluster(ObjectNode doc) {
    ObjectNode second = cluster(doc).deepCopy().put("clusterId", "cluster-bbbbbbbbbbb");
    ArrayNode hsms = second.putArray("hsms");
    hsms.add(hsm(doc, 0).deepCopy());
    ((ArrayNode) doc.get("clusters")).add(second);
    return (ObjectNode) hsms.get(0);
  }
}
