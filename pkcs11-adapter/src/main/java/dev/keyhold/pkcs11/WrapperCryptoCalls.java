package dev.keyhold.pkcs11;

import java.util.Arrays;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.params.GCM_PARAMS;

/** {@link CryptoCalls} through the wrapper's JNI: the path on every JDK, and the only one before JDK 22. */
final class WrapperCryptoCalls implements CryptoCalls {
  static final WrapperCryptoCalls INSTANCE = new WrapperCryptoCalls();
  private static final int TAG_BITS = Aead.TAG_LENGTH * 8;
  /** The wrapper passes an empty IV as a NULL {@code pIv}. */
  private static final byte[] NO_IV = new byte[0];

  private WrapperCryptoCalls() {}

  @Override
  public byte[] encryptGcm(Session session, long key, long mechanism, byte[] iv, byte[] aad, byte[] plaintext)
      throws PKCS11Exception {
    session.encryptInit(new Mechanism(mechanism, new GCM_PARAMS(iv == null ? NO_IV : iv, aad, TAG_BITS)), key);
    byte[] body = session.encrypt(plaintext);
    if (iv == null) {
      return body;
    }
    byte[] out = Arrays.copyOf(iv, iv.length + body.length);
    System.arraycopy(body, 0, out, iv.length, body.length);
    return out;
  }

  @Override
  public byte[] decryptGcm(Session session, long key, long mechanism, boolean ivInParameters, byte[] aad,
      byte[] ciphertext) throws PKCS11Exception {
    byte[] iv = ivInParameters ? Arrays.copyOf(ciphertext, Aead.IV_LENGTH) : NO_IV;
    byte[] input = ivInParameters ? Arrays.copyOfRange(ciphertext, Aead.IV_LENGTH, ciphertext.length) : ciphertext;
    session.decryptInit(new Mechanism(mechanism, new GCM_PARAMS(iv, aad, TAG_BITS)), key);
    return session.decrypt(input);
  }

  @Override
  public byte[] generateRandom(Session session, int length) throws PKCS11Exception {
    return session.generateRandom(length);
  }

  @Override
  public String describe() {
    return "IAIK wrapper (JNI)";
  }

  @Override
  public String toString() {
    return describe();
  }
}
