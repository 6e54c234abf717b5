package dev.keyhold.cluster;

import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.hash.Hashing;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.util.io.pem.PemObject;

/**
 * The trust anchor certificate of a cluster: the counterpart of the {@code customerCA.crt} with
 * which an AWS CloudHSM cluster is initialised. Clusters restored from a backup of another keep its
 * trust anchor, so two clusters with equal trust anchors share backup history.
 *
 * <p>Two trust anchors are equal when their certificates have the same DER encoding; how the PEM text
 * was wrapped or what surrounded it does not matter.
 */
public final class TrustAnchor {
  private static final String PEM_TYPE = "CERTIFICATE";

  private final X509Certificate certificate;
  private final byte[] der;
  private final int hash;
  private final String pem;

  private TrustAnchor(X509Certificate certificate, byte[] der) {
    this.certificate = certificate;
    this.der = der;
    this.hash = Arrays.hashCode(der);
    this.pem = toPem(certificate);
  }

  /**
   * The trust anchor {@code certificate}.
   *
   * @throws IllegalArgumentException if the certificate cannot be encoded
   */
  public static TrustAnchor of(X509Certificate certificate) {
    checkNotNull(certificate, "certificate");
    try {
      return new TrustAnchor(certificate, certificate.getEncoded());
    } catch (CertificateEncodingException e) {
      throw new IllegalArgumentException("cannot encode certificate " + certificate.getSubjectX500Principal(), e);
    }
  }

  /**
   * Parses exactly one PEM {@code CERTIFICATE} block; text before it is ignored, as OpenSSL does.
   *
   * @throws IllegalArgumentException if {@code pem} holds no certificate, something other than a
   *     certificate, more than one PEM block, or a certificate that does not parse
   */
  public static TrustAnchor fromPem(String pem) {
    checkNotNull(pem, "pem");
    PemObject block;
    PemObject next;
    try (PEMParser parser = new PEMParser(new StringReader(pem))) {
      block = parser.readPemObject();
      next = parser.readPemObject();
    } catch (IOException e) {
      throw new IllegalArgumentException("not a PEM certificate: " + e.getMessage(), e);
    }
    if (block == null) {
      throw new IllegalArgumentException("no PEM block (-----BEGIN " + PEM_TYPE + "-----) found");
    }
    if (!block.getType().equals(PEM_TYPE)) {
      throw new IllegalArgumentException("the PEM block is a " + block.getType() + ", not a " + PEM_TYPE);
    }
    if (next != null) {
      // A chain or a certificate with its key: the trust anchor is the one certificate alone.
      throw new IllegalArgumentException("more than one PEM block (the second is a " + next.getType()
          + "); a trust anchor is one certificate");
    }
    try {
      X509CertificateHolder holder = new X509CertificateHolder(block.getContent());
      return of(new JcaX509CertificateConverter().getCertificate(holder));
    } catch (IOException | CertificateException e) {
      throw new IllegalArgumentException("the PEM " + PEM_TYPE + " does not parse: " + e.getMessage(), e);
    }
  }

  public X509Certificate certificate() {
    return certificate;
  }

  /** The certificate as PEM, written the same way whatever text it was read from. */
  public String pem() {
    return pem;
  }

  /**
   * Whether {@code candidate} is PEM of this same certificate. Anything unparsable is simply not a
   * match, so callers can check untrusted input without catching.
   */
  public boolean matchesPem(String candidate) {
    checkNotNull(candidate, "candidate");
    try {
      return fromPem(candidate).equals(this);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private static String toPem(X509Certificate certificate) {
    StringWriter text = new StringWriter();
    try (JcaPEMWriter writer = new JcaPEMWriter(text)) {
      writer.writeObject(certificate);
    } catch (IOException e) {
      // Writing to a StringWriter does no I/O; only a broken encoding gets here.
      throw new UncheckedIOException(
          "cannot write certificate " + certificate.getSubjectX500Principal() + " as PEM", e);
    }
    return text.toString();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TrustAnchor other && Arrays.equals(other.der, der);
  }

  @Override
  public int hashCode() {
    return hash;
  }

  /** Subject and SHA-256 fingerprint, the way operators compare certificates. */
  @Override
  public String toString() {
    return "TrustAnchor[" + certificate.getSubjectX500Principal().getName() + ", SHA-256 "
        + Hashing.sha256().hashBytes(der) + "]";
  }
}
