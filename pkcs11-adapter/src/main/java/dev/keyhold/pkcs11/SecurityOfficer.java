package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static com.google.common.base.Preconditions.checkState;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_EC_POINT;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKD_NULL;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_GEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_WRAP_PAD;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_EC_KEY_PAIR_GEN;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_ECDH1_DERIVE;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKU_SO;

import java.util.Arrays;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.KeyPairTemplate;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.PKCS11KeyPair;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.params.ECDH1_DERIVE_PARAMS;

/**
 * A token's security officer, for the one job only the SO can do: placing a <em>trusted wrapping
 * key</em> in the token. Keys made {@linkplain AesKeyTemplate.Builder#replicable() replicable} can be
 * wrapped under a trusted key and nothing else, and the key's unwrap template forces every key it
 * unwraps to be what {@link AesKeyTemplate} makes. So the user (kmsuser) can copy keys between tokens
 * that share the trusted key, and can never get one out in clear.
 *
 * <p>The trusted key travels between tokens under a one-time transport key that the two tokens agree
 * on with ECDH ({@code CKM_ECDH1_DERIVE}, P-256, {@code CKD_NULL}: the raw shared secret is the AES
 * key; each ephemeral pair and the transport key are session objects that die with the SO session).
 * Only public points cross this process.
 *
 * <p>It also resets the user's PIN, the other SO duty an HSM operator needs.
 *
 * <p>Not for a service: it needs the SO PIN, which an operator gives for a ceremony and takes away.
 * One session, not thread-safe. Closing logs out.
 */
public final class SecurityOfficer implements AutoCloseable {
  /** DER of the OID of NIST P-256 (secp256r1). */
  private static final byte[] P256 = {0x06, 0x08, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x03, 0x01, 0x07};

  private final Pkcs11Module module;
  private final String label;
  private final Session session;
  private boolean closed;

  private SecurityOfficer(Pkcs11Module module, String label, Session session) {
    this.module = module;
    this.label = label;
    this.session = session;
  }

  /**
   * Logs in to the token labelled {@code label} as its SO.
   *
   * @throws TokenNotFoundException if no token carries {@code label}
   * @throws BadCredentialsException if the token refuses {@code soPin}
   */
  public static SecurityOfficer login(Pkcs11Module module, String label, Pin soPin) {
    checkNotNull(module, "module");
    checkNotNull(label, "label");
    checkNotNull(soPin, "soPin");
    module.callLock().lock();
    try {
      Session session;
      try {
        session = module.findSlot(label)
            .orElseThrow(() -> new TokenNotFoundException("no token labelled '" + label + "'", null, null))
            .getToken().openSession(true);
      } catch (PKCS11Exception e) {
        throw Pkcs11Errors.translate(e, "C_OpenSession", label, false, TokenProfile.SOFTHSM2);
      }
      char[] pin = soPin.copyChars();
      try {
        session.login(CKU_SO, pin);
      } catch (PKCS11Exception e) {
        closeQuietly(session);
        throw Pkcs11Errors.translate(e, "C_Login", label, false, TokenProfile.SOFTHSM2);
      } finally {
        Arrays.fill(pin, '\0');
      }
      return new SecurityOfficer(module, label, session);
    } finally {
      module.callLock().unlock();
    }
  }

  public String label() {
    return label;
  }

  /** Whether the token holds a trusted wrapping key named {@code key}. */
  public boolean hasTrustedKey(AesKey key) {
    checkNotNull(key, "key");
    return run("C_FindObjects", () -> findTrusted(key).length == 1);
  }

  /**
   * Generates the trusted wrapping key {@code key} in this token: AES-256, wrap and unwrap only,
   * trusted, public (the SO can make no other kind, and the user must find it), never modifiable,
   * sensitive, extractable only under another trusted key (to reach the cluster's next HSM), and
   * with an unwrap template that forces {@link AesKeyTemplate}'s replica attributes.
   *
   * @throws IllegalStateException if the token already holds a key so named
   */
  public void generateTrustedKey(AesKey key) {
    checkNotNull(key, "key");
    checkState(!hasTrustedKey(key), "token '%s' already holds %s", label, key);
    run("C_GenerateKey", () -> session.generateKey(new Mechanism(CKM_AES_KEY_GEN),
        trustedKeyAttributes(key).token(true).modifiable(false).valueLen(32)));
  }

  /**
   * Copies the trusted key {@code key} from this token into {@code target}'s, wrapped under a
   * transport key the two agree on by ECDH, so that both then share it.
   *
   * @throws IllegalStateException if this token lacks the key or the target already has it
   */
  public void sendTrustedKey(AesKey key, SecurityOfficer target) {
    checkNotNull(key, "key");
    checkNotNull(target, "target");
    checkArgument(target != this, "a token cannot send a key to itself");
    checkState(hasTrustedKey(key), "token '%s' holds no trusted key %s", label, key);
    checkState(!target.hasTrustedKey(key), "token '%s' already holds %s", target.label, key);
    PKCS11KeyPair ours = generateAgreementPair();
    PKCS11KeyPair theirs = target.generateAgreementPair();
    long sending = deriveTransportKey(ours, target.publicPoint(theirs));
    long receiving = target.deriveTransportKey(theirs, publicPoint(ours));
    byte[] wrapped = run("C_WrapKey",
        () -> session.wrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), sending, findTrusted(key)[0]));
    // SoftHSM2 refuses CKA_MODIFIABLE false in C_UnwrapKey (CKR_ATTRIBUTE_READ_ONLY) but lets
    // C_CopyObject turn it off: so the key lands as a session object and its token copy is fixed.
    long received = target.run("C_UnwrapKey", () -> target.session.unwrapKey(
        new Mechanism(CKM_AES_KEY_WRAP_PAD), receiving, wrapped, trustedKeyAttributes(key).token(false)));
    target.run("C_CopyObject", () -> {
      target.session.copyObject(received, new AttributeVector().token(true).modifiable(false));
      target.session.destroyObject(received);
      return null;
    });
  }

  /**
   * Sets the user's PIN ({@code C_InitPIN}), as an HSM operator resets a crypto user's password; the
   * user's keys stay.
   */
  public void initUserPin(Pin userPin) {
    checkNotNull(userPin, "userPin");
    run("C_InitPIN", () -> {
      char[] pin = userPin.copyChars();
      try {
        session.initPIN(pin);
      } finally {
        Arrays.fill(pin, '\0');
      }
      return null;
    });
  }

  /** Logs out and closes the session, which destroys its session objects. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    module.callLock().lock();
    try {
      try {
        session.logout();
      } catch (PKCS11Exception e) {
        // closing the session below ends the login all the same
      }
      closeQuietly(session);
    } finally {
      module.callLock().unlock();
    }
  }

  @Override
  public String toString() {
    return "SecurityOfficer[" + label + "]";
  }

  private static AttributeVector trustedKeyAttributes(AesKey key) {
    return AttributeVector.newAESSecretKey()
        .private_(false)
        .trusted(true)
        .sensitive(true)
        .extractable(true)
        .wrapWithTrusted(true)
        .wrap(true)
        .unwrap(true)
        .encrypt(false)
        .decrypt(false)
        .sign(false)
        .verify(false)
        .derive(false)
        .unwrapTemplate(AesKeyTemplate.replicaAttributes())
        .label(key.label())
        .id(key.idUnsafe());
  }

  private long[] findTrusted(AesKey key) throws PKCS11Exception {
    return session.findObjectsSingle(
        AttributeVector.newAESSecretKey().token(true).label(key.label()).id(key.idUnsafe()).trusted(true), 2);
  }

  /** An ephemeral P-256 pair for one key agreement: session objects, so they vanish with the session. */
  private PKCS11KeyPair generateAgreementPair() {
    KeyPairTemplate template = new KeyPairTemplate(
        AttributeVector.newECPrivateKey().token(false).private_(false).sensitive(true).derive(true),
        AttributeVector.newECPublicKey().token(false).private_(false).ecParams(P256));
    return run("C_GenerateKeyPair", () -> session.generateKeyPair(new Mechanism(CKM_EC_KEY_PAIR_GEN), template));
  }

  /** The uncompressed point (04 || x || y) of {@code pair}'s public key, as {@code CKD_NULL} takes it. */
  private byte[] publicPoint(PKCS11KeyPair pair) {
    byte[] point = run("C_GetAttributeValue", () -> session.getAttrValues(pair.getPublicKey(), CKA_EC_POINT).ecPoint());
    // CKA_EC_POINT is a DER OCTET STRING; some wrapper versions unwrap it, some do not.
    if (point.length == 67 && point[0] == 0x04 && point[1] == 65) {
      point = Arrays.copyOfRange(point, 2, point.length);
    }
    checkState(point.length == 65 && point[0] == 0x04, "token '%s' gave a malformed EC point", label);
    return point;
  }

  /** The trusted one-time AES-256 key that ECDH with {@code peerPoint} gives; a session object. */
  private long deriveTransportKey(PKCS11KeyPair ours, byte[] peerPoint) {
    AttributeVector template = AttributeVector.newAESSecretKey()
        .token(false)
        .private_(false)
        .trusted(true)
        .sensitive(true)
        .extractable(false)
        .wrap(true)
        .unwrap(true)
        .encrypt(false)
        .decrypt(false)
        .valueLen(32);
    Mechanism ecdh = new Mechanism(CKM_ECDH1_DERIVE, new ECDH1_DERIVE_PARAMS(CKD_NULL, null, peerPoint));
    return run("C_DeriveKey", () -> session.deriveKey(ecdh, ours.getPrivateKey(), template));
  }

  private <T> T run(String function, SoCall<T> body) {
    checkState(!closed, "the SO session on token '%s' is closed", label);
    module.callLock().lock();
    try {
      return body.call();
    } catch (PKCS11Exception e) {
      throw Pkcs11Errors.translate(e, function, label, false, TokenProfile.SOFTHSM2);
    } finally {
      module.callLock().unlock();
    }
  }

  private static void closeQuietly(Session session) {
    try {
      session.closeSession();
    } catch (PKCS11Exception e) {
      // nothing to do: the session is gone either way
    }
  }

  @FunctionalInterface
  private interface SoCall<T> {
    T call() throws PKCS11Exception;
  }
}
