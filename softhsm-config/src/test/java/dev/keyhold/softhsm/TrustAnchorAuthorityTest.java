package dev.keyhold.softhsm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.TrustAnchor;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class TrustAnchorAuthorityTest {
  private static final Instant NOW = Instant.parse("2025-03-01T12:34:56.789Z");
  private final ClusterId cluster = ClusterId.of("cluster-abcdefghijk");

  @Test
  void createsASelfSignedCaCertificateForTenYears() throws Exception {
    TrustAnchor anchor = TrustAnchor.of(
        TrustAnchorAuthority.create(cluster, new SecureRandom(), Clock.fixed(NOW, ZoneOffset.UTC)));

    // Parse the PEM with the JDK alone, as any other consumer of customerCA.crt would.
    X509Certificate certificate = (X509Certificate) CertificateFactory.getInstance("X.509")
        .generateCertificate(new ByteArrayInputStream(anchor.pem().getBytes(StandardCharsets.US_ASCII)));
    assertThat(certificate.getSubjectX500Principal().getName()).isEqualTo("CN=cluster-abcdefghijk customer CA");
    assertThat(certificate.getIssuerX500Principal()).isEqualTo(certificate.getSubjectX500Principal());
    certificate.verify(certificate.getPublicKey());
    assertThat(certificate.getPublicKey().getAlgorithm()).isEqualTo("EC");
    assertThat(certificate.getBasicConstraints()).as("CA=true, no path length limit").isEqualTo(Integer.MAX_VALUE);
    assertThat(certificate.getCriticalExtensionOIDs()).contains("2.5.29.19", "2.5.29.15");
    // digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign
    assertThat(certificate.getKeyUsage()).startsWith(false, false, false, false, false, true, true);
    assertThat(certificate.getNotBefore().toInstant()).isEqualTo(Instant.parse("2025-03-01T12:34:56Z"));
    assertThat(certificate.getNotAfter().toInstant()).isEqualTo(Instant.parse("2035-03-01T12:34:56Z"));
    assertThat(certificate.getSerialNumber().signum()).isPositive();
  }

  @Test
  void everyCallMakesANewCertificate() {
    assertThat(TrustAnchorAuthority.create(cluster.toString()))
        .isNotEqualTo(TrustAnchorAuthority.create(cluster.toString()));
  }

  @Test
  void refusesWhatIsNotAClusterId() {
    assertThatThrownBy(() -> TrustAnchorAuthority.create("my-cluster"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'my-cluster'");
  }
}
