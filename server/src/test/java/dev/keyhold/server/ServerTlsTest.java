package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServerTlsTest {
  @TempDir Path directory;

  @Test
  void aSelfSignedCertificateNamesItsHostsAndIsItsOwnIssuer() throws Exception {
    ServerTls tls = ServerTls.selfSigned(List.of("localhost", "127.0.0.1", "::1"));

    X509Certificate certificate = tls.certificateChain().get(0);
    assertThat(certificate.getSubjectX500Principal()).isEqualTo(certificate.getIssuerX500Principal());
    certificate.verify(certificate.getPublicKey());
    List<Object> names = certificate.getSubjectAlternativeNames().stream().<Object>map(name -> name.get(1)).toList();
    assertThat(names).containsExactly("localhost", "127.0.0.1", "0:0:0:0:0:0:0:1");
    assertThat(certificate.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1");
    assertThat(tls.certificatePem())
        .startsWith("-----BEGIN CERTIFICATE-----\n").endsWith("-----END CERTIFICATE-----\n");
    assertThat(tls.sslContext().createSSLEngine()).isNotNull();
  }

  @Test
  void readsAKeyAndChainInPem() throws Exception {
    SelfSignedCertificate.KeyAndCertificate generated = SelfSignedCertificate.generate(List.of("localhost"));
    Path chain =
        Files.writeString(directory.resolve("chain.pem"), pem("CERTIFICATE", generated.certificate().getEncoded()));
    Path key = Files.writeString(directory.resolve("key.pem"),
        pem("PRIVATE KEY", generated.keyPair().getPrivate().getEncoded()));

    assertThat(ServerTls.fromPem(chain, key).certificateChain()).containsExactly(generated.certificate());
    assertThatThrownBy(() -> ServerTls.fromPem(chain, chain)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("holds no unencrypted private key");
  }

  @Test
  void readsTheKeyEntryOfAPkcs12File() throws Exception {
    SelfSignedCertificate.KeyAndCertificate generated = SelfSignedCertificate.generate(List.of("localhost"));
    char[] password = "changeit".toCharArray();
    KeyStore store = KeyStore.getInstance("PKCS12");
    store.load(null, null);
    store.setKeyEntry(
        "server", generated.keyPair().getPrivate(), password, new Certificate[] {generated.certificate()});
    store.setCertificateEntry("some-ca", generated.certificate());
    Path file = directory.resolve("server.p12");
    try (OutputStream out = Files.newOutputStream(file)) {
      store.store(out, password);
    }

    assertThat(ServerTls.fromPkcs12(file, password).certificateChain()).containsExactly(generated.certificate());
  }

  static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n" + new String(Base64.getMimeEncoder(64, "\n".getBytes(US_ASCII)).encode(der),
        US_ASCII) + "\n-----END " + type + "-----\n";
  }
}
