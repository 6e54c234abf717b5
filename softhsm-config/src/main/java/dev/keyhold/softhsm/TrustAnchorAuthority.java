package dev.keyhold.softhsm;

import static com.google.common.base.Preconditions.checkNotNull;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Issues the trust anchor of a local cluster: a self-signed CA certificate, the counterpart of the
 * {@code customerCA.crt} with which an AWS CloudHSM cluster is initialised.
 *
 * <p>In CloudHSM the customer CA signs the cluster's CSR, so the cluster proves it is the one that
 * was initialised. A local cluster has nothing to sign, so the certificate only stands for the
 * cluster's identity and backup history; its private key is made in software, used once for the
 * self-signature and then dropped. It is never written anywhere.
 */
public final class TrustAnchorAuthority {
  private static final int VALIDITY_YEARS = 10;

  private TrustAnchorAuthority() {}

  /**
   * A fresh EC P-256 CA certificate with subject {@code CN=<clusterId> customer CA}, valid for ten
   * years from now, for signing certificates and CRLs only.
   *
   * @throws IllegalArgumentException if {@code clusterId} is not a cluster id
   */
  public static X509Certificate create(String clusterId) {
    return create(ClusterId.of(clusterId), new SecureRandom(), Clock.systemUTC());
  }

  static X509Certificate create(ClusterId cluster, SecureRandom random, Clock clock) {
    checkNotNull(cluster, "cluster");
    X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, cluster + " customer CA").build();
    Instant notBefore = clock.instant().truncatedTo(ChronoUnit.SECONDS);
    Instant notAfter = notBefore.atOffset(ZoneOffset.UTC).plusYears(VALIDITY_YEARS).toInstant();
    // RFC 5280: a positive serial of at most 20 octets; 128 random bits make collisions moot.
    BigInteger serial = new BigInteger(128, random).setBit(127);
    try {
      KeyPair keys = generateKeyPair(random);
      JcaX509ExtensionUtils extensions = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject, serial, Date.from(notBefore),
          Date.from(notAfter), subject, keys.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
          .addExtension(Extension.subjectKeyIdentifier, false,
              extensions.createSubjectKeyIdentifier(keys.getPublic()));
      return new JcaX509CertificateConverter().getCertificate(
          builder.build(new JcaContentSignerBuilder("SHA256withECDSA").setSecureRandom(random)
              .build(keys.getPrivate())));
    } catch (GeneralSecurityException | OperatorCreationException | CertIOException e) {
      // Every JDK 17 has EC P-256 and SHA256withECDSA; failing here means a broken JCA setup.
      throw new IllegalStateException("cannot create the trust anchor of " + cluster, e);
    }
  }

  private static KeyPair generateKeyPair(SecureRandom random) throws GeneralSecurityException {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"), random);
    return generator.generateKeyPair();
  }
}
