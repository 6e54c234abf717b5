package dev.keyhold.server;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import com.google.common.io.BaseEncoding;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * What the server presents over TLS: a private key and its certificate chain, from the operator (a
 * PKCS#12 file, or PEM files) or made up for local use ({@link #selfSigned}).
 */
public final class ServerTls {
  private final SSLContext sslContext;
  private final ImmutableList<X509Certificate> certificateChain;

  private ServerTls(SSLContext sslContext, ImmutableList<X509Certificate> certificateChain) {
    this.sslContext = sslContext;
    this.certificateChain = certificateChain;
  }

  /** The key and chain of the one key entry of a PKCS#12 file. */
  public static ServerTls fromPkcs12(Path file, char[] password) throws IOException, GeneralSecurityException {
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(file)) {
      store.load(in, password);
    }
    List<String> keyEntries = Collections.list(store.aliases()).stream()
        .filter(alias -> isKeyEntry(store, alias)).toList();
    checkArgument(keyEntries.size() == 1, "%s must hold exactly one private key, not %s", file, keyEntries.size());
    Key key = store.getKey(keyEntries.get(0), password);
    checkArgument(key instanceof PrivateKey, "%s: the key entry holds no private key", file);
    return of((PrivateKey) key, x509(store.getCertificateChain(keyEntries.get(0))));
  }

  /**
   * A certificate chain (the server's first, then its issuers) and an unencrypted private key (PKCS#8
   * {@code PRIVATE KEY}, or {@code RSA}/{@code EC PRIVATE KEY}), in PEM.
   */
  public static ServerTls fromPem(Path certificateChain, Path privateKey) throws IOException, GeneralSecurityException {
    List<X509Certificate> chain;
    try (InputStream in = Files.newInputStream(certificateChain)) {
      chain = x509(CertificateFactory.getInstance("X.509").generateCertificates(in).toArray(Certificate[]::new));
    }
    checkArgument(!chain.isEmpty(), "%s holds no certificate", certificateChain);
    Object pem;
    try (Reader in = Files.newBufferedReader(privateKey); PEMParser parser = new PEMParser(in)) {
      pem = parser.readObject();
    }
    PrivateKeyInfo info = pem instanceof PEMKeyPair pair ? pair.getPrivateKeyInfo()
        : pem instanceof PrivateKeyInfo plain ? plain : null;
    checkArgument(info != null, "%s holds no unencrypted private key", privateKey);
    return of(new JcaPEMKeyConverter().getPrivateKey(info), chain);
  }

  /**
   * A fresh self-signed certificate for {@code names} (host names and IP addresses; the first names
   * it), for local use: a client must be told to trust {@link #certificatePem()}.
   */
  public static ServerTls selfSigned(List<String> names) throws GeneralSecurityException {
    checkArgument(!names.isEmpty(), "a certificate needs at least one name");
    SelfSignedCertificate.KeyAndCertificate generated = SelfSignedCertificate.generate(names);
    return of(generated.keyPair().getPrivate(), List.of(generated.certificate()));
  }

  private static ServerTls of(PrivateKey key, List<X509Certificate> chain) throws GeneralSecurityException {
    // The key only ever lives in this in-memory store; its password need not be known to anyone.
    char[] password = BaseEncoding.base64().encode(new SecureRandom().generateSeed(16)).toCharArray();
    KeyStore store = KeyStore.getInstance("PKCS12");
    try {
      store.load(null, null);
    } catch (IOException e) {
      throw new GeneralSecurityException("cannot create an in-memory key store", e); // no stream: cannot happen
    }
    store.setKeyEntry("server", key, password, chain.toArray(Certificate[]::new));
    KeyManagerFactory keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    keyManagers.init(store, password);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(keyManagers.getKeyManagers(), null, null);
    return new ServerTls(context, ImmutableList.copyOf(chain));
  }

  public SSLContext sslContext() {
    return sslContext;
  }

  /** The server's certificate first, then its issuers. */
  public ImmutableList<X509Certificate> certificateChain() {
    return certificateChain;
  }

  /** The server's certificate in PEM, e.g. for a client's CA bundle when it is self-signed. */
  public String certificatePem() {
    try {
      return "-----BEGIN CERTIFICATE-----\n"
          + BaseEncoding.base64().withSeparator("\n", 64).encode(certificateChain.get(0).getEncoded())
          + "\n-----END CERTIFICATE-----\n";
    } catch (CertificateEncodingException e) {
      throw new IllegalStateException("a certificate that was decoded encodes again", e);
    }
  }

  private static boolean isKeyEntry(KeyStore store, String alias) {
    try {
      return store.isKeyEntry(alias);
    } catch (KeyStoreException e) {
      throw new IllegalStateException("a loaded key store answers", e);
    }
  }

  private static List<X509Certificate> x509(Certificate[] chain) {
    checkArgument(chain != null && chain.length > 0, "the key has no certificate chain");
    return Arrays.stream(chain).map(X509Certificate.class::cast).toList();
  }
}
