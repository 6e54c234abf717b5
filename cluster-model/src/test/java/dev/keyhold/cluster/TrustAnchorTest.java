package dev.keyhold.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.cert.X509Certificate;
import java.util.Base64;
import org.junit.jupiter.api.Test;

class TrustAnchorTest {
  private final X509Certificate certificate = TestCertificates.selfSigned("cluster-abcdefghijk customer CA");

  @Test
  void parsesPemAndWritesItCanonically() throws Exception {
    // Wrapped at 76 with CRLF and preceded by text, as `openssl x509 -text` or a Windows editor leave it.
    String untidy = "Certificate:\r\n    Data: ...\r\n-----BEGIN CERTIFICATE-----\r\n"
        + Base64.getMimeEncoder().encodeToString(certificate.getEncoded()) + "\r\n-----END CERTIFICATE-----\r\n";

    TrustAnchor anchor = TrustAnchor.fromPem(untidy);

    assertThat(anchor.certificate()).isEqualTo(certificate);
    assertThat(anchor.pem())
        .startsWith("-----BEGIN CERTIFICATE-----\n")
        .endsWith("-----END CERTIFICATE-----\n")
        .doesNotContain("\r")
        .isEqualTo(TrustAnchor.of(certificate).pem());
    assertThat(anchor.pem().lines().filter(line -> !line.startsWith("-----")))
        .allMatch(line -> line.length() <= 64);
    assertThat(TrustAnchor.fromPem(anchor.pem())).isEqualTo(anchor);
  }

  @Test
  void equalityIsByDerEncoding() {
    TrustAnchor anchor = TrustAnchor.of(certificate);
    TrustAnchor sameName = TestCertificates.anchor("cluster-abcdefghijk customer CA");

    assertThat(TrustAnchor.fromPem(anchor.pem())).isEqualTo(anchor).hasSameHashCodeAs(anchor);
    assertThat(sameName).as("same subject, other key").isNotEqualTo(anchor);
    assertThat(anchor.toString()).contains("CN=cluster-abcdefghijk customer CA", "SHA-256 ");
  }

  @Test
  void matchesPemOnlyForTheSameCertificateAndNeverThrows() throws Exception {
    TrustAnchor anchor = TrustAnchor.of(certificate);

    assertThat(anchor.matchesPem(TestCertificates.pem("CERTIFICATE", certificate.getEncoded()))).isTrue();
    assertThat(anchor.matchesPem(TestCertificates.anchor("other").pem())).isFalse();
    assertThat(anchor.matchesPem("")).isFalse();
    assertThat(anchor.matchesPem("not PEM at all")).isFalse();
    assertThat(anchor.matchesPem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")).isFalse();
    assertThat(anchor.matchesPem(TestCertificates.pem("CERTIFICATE", new byte[] {1, 2, 3}))).isFalse();
  }

  @Test
  void rejectsTextWithoutACertificate() {
    assertThatThrownBy(() -> TrustAnchor.fromPem(""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("no PEM block (-----BEGIN CERTIFICATE-----) found");
    assertThatThrownBy(() -> TrustAnchor.fromPem("just some text\n"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("no PEM block (-----BEGIN CERTIFICATE-----) found");
  }

  @Test
  void rejectsAPrivateKey() {
    String key = TestCertificates.pem("PRIVATE KEY", TestCertificates.keyPair().getPrivate().getEncoded());

    assertThatThrownBy(() -> TrustAnchor.fromPem(key))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("the PEM block is a PRIVATE KEY, not a CERTIFICATE");
  }

  @Test
  void rejectsMoreThanOneBlock() {
    String chain = TrustAnchor.of(certificate).pem() + TestCertificates.anchor("other").pem();

    assertThatThrownBy(() -> TrustAnchor.fromPem(chain))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("more than one PEM block (the second is a CERTIFICATE); a trust anchor is one certificate");
  }

  @Test
  void rejectsBrokenPem() {
    assertThatThrownBy(() -> TrustAnchor.fromPem("-----BEGIN CERTIFICATE-----\nMIIB\n"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("not a PEM certificate: ")
        .hasMessageContaining("END CERTIFICATE");
    assertThatThrownBy(() -> TrustAnchor.fromPem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("not a PEM certificate: ");
    assertThatThrownBy(() -> TrustAnchor.fromPem("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("not a PEM certificate: ");
    assertThatThrownBy(() -> TrustAnchor.fromPem(TestCertificates.pem("CERTIFICATE", new byte[] {1, 2, 3})))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("the PEM CERTIFICATE does not parse: ");
  }
}
