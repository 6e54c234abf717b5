package dev.keyhold.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.services.kms.KmsClient;

/** The server over TLS, with an operator's certificate and key in PEM files, as AWS clients reach it. */
class TlsTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static X509Certificate certificate;

  @BeforeAll
  static void start() throws Exception {
    SelfSignedCertificate.KeyAndCertificate generated = SelfSignedCertificate.generate(List.of("127.0.0.1"));
    certificate = generated.certificate();
    Path chain =
        Files.writeString(data.resolve("chain.pem"), ServerTlsTest.pem("CERTIFICATE", certificate.getEncoded()));
    Path key = Files.writeString(data.resolve("key.pem"),
        ServerTlsTest.pem("PRIVATE KEY", generated.keyPair().getPrivate().getEncoded()));
    ServerTls tls = ServerTls.fromPem(chain, key);
    keyhold = TestKeyhold.start(softhsm, data, builder -> builder.tls(tls));
  }

  @AfterAll
  static void stop() {
    keyhold.close();
  }

  @Test
  void theSdkTalksToItOverHttps() throws Exception {
    assertThat(keyhold.endpoint().getScheme()).isEqualTo("https");
    try (KmsClient client = keyhold.client(keyhold.alice,
        UrlConnectionHttpClient.builder().tlsTrustManagersProvider(TlsTest::trustingTheServer).build())) {
      String keyId = client.createKey(r -> r.description("over TLS")).keyMetadata().keyId();
      SdkBytes blob = client.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("tls"))).ciphertextBlob();

      assertThat(client.decrypt(r -> r.ciphertextBlob(blob)).plaintext().asUtf8String()).isEqualTo("tls");
    }
  }

  @Test
  void healthToo() throws Exception {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, trustingTheServer(), null);
    HttpResponse<String> health = HttpClient.newBuilder().sslContext(context).build()
        .send(HttpRequest.newBuilder(keyhold.endpoint().resolve("/health")).build(),
            HttpResponse.BodyHandlers.ofString());

    assertThat(health.statusCode()).isEqualTo(200);
    assertThat(health.body()).startsWith("{\"node\":\"local\",").contains("\"status\":\"ACTIVE\"");
  }

  private static TrustManager[] trustingTheServer() {
    try {
      KeyStore trusted = KeyStore.getInstance("PKCS12");
      trusted.load(null, null);
      trusted.setCertificateEntry("keyhold", certificate);
      TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      factory.init(trusted);
      return factory.getTrustManagers();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
