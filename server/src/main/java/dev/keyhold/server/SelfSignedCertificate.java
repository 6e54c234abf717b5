package dev.keyhold.server;

import com.google.common.net.InetAddresses;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A self-signed TLS certificate for local use: an EC P-256 key, valid for a year, for the given host
 * names and addresses. It is its own CA (a client trusts it by adding it to its CA bundle, as the AWS
 * CLI's {@code --ca-bundle}), with the extensions strict verifiers (Python's) insist on.
 */
final class SelfSignedCertificate {
  private static final Duration VALIDITY = Duration.ofDays(365);
  /** Clocks disagree a little; a certificate made now should not look future-dated to a client. */
  private static final Duration BACKDATE = Duration.ofHours(1);

  private SelfSignedCertificate() {}

  /** The key and its certificate. */
  record KeyAndCertificate(KeyPair keyPair, X509Certificate certificate) {}

  static KeyAndCertificate generate(List<String> names) throws GeneralSecurityException {
    SecureRandom random = new SecureRandom();
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"), random);
    KeyPair keyPair = generator.generateKeyPair();
    X500Name subject = new X500Name("CN=Keyhold local (" + names.get(0) + ")");
    Instant now = Instant.now();
    JcaX509ExtensionUtils extensions = new JcaX509ExtensionUtils();
    try {
      X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject, new BigInteger(127, random),
          Date.from(now.minus(BACKDATE)), Date.from(now.plus(VALIDITY)), subject, keyPair.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyCertSign))
          .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
          .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.stream()
              .map(name -> InetAddresses.isInetAddress(name)
                  ? new GeneralName(GeneralName.iPAddress, name)
                  : new GeneralName(GeneralName.dNSName, name))
              .toArray(GeneralName[]::new)))
          .addExtension(Extension.subjectKeyIdentifier, false,
              extensions.createSubjectKeyIdentifier(keyPair.getPublic()))
          .addExtension(Extension.authorityKeyIdentifier, false,
              extensions.createAuthorityKeyIdentifier(keyPair.getPublic()));
      X509Certificate certificate = new JcaX509CertificateConverter()
          .getCertificate(builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keyPair.getPrivate())));
      return new KeyAndCertificate(keyPair, certificate);
    } catch (CertIOException | OperatorCreationException e) {
      throw new GeneralSecurityException("cannot make a self-signed certificate", e);
    }
  }
}
