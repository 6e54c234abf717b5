package dev.keyhold.pkcs11;

import static com.google.common.base.Preconditions.checkNotNull;

import org.xipki.pkcs11.wrapper.AttributeVector;

/**
 * The attributes of a persistent AES-256 key that never leaves the token in clear.
 *
 * <table>
 *   <caption>Attributes set by {@link Token#generateAesKey}</caption>
 *   <tr><td>{@code CKA_CLASS} / {@code CKA_KEY_TYPE}</td><td>{@code CKO_SECRET_KEY} / {@code CKK_AES}</td></tr>
 *   <tr><td>{@code CKA_VALUE_LEN}</td><td>32 (AES-256)</td></tr>
 *   <tr><td>{@code CKA_TOKEN}</td><td>true: persistent, survives a restart</td></tr>
 *   <tr><td>{@code CKA_PRIVATE}</td><td>true: only the logged-in user sees it</td></tr>
 *   <tr><td>{@code CKA_SENSITIVE}</td><td>true: {@code CKA_VALUE} can never be read</td></tr>
 *   <tr><td>{@code CKA_EXTRACTABLE}</td><td>false unless {@link Builder#extractable()}: no
 *       {@code C_WrapKey} at all</td></tr>
 *   <tr><td>{@code CKA_ENCRYPT} / {@code CKA_DECRYPT}</td><td>true</td></tr>
 *   <tr><td>{@code CKA_WRAP} / {@code CKA_UNWRAP} / {@code CKA_SIGN} / {@code CKA_VERIFY} /
 *       {@code CKA_DERIVE}</td><td>false: the key does one job</td></tr>
 *   <tr><td>{@code CKA_LABEL} / {@code CKA_ID}</td><td>from the caller</td></tr>
 * </table>
 */
public final class AesKeyTemplate {
  private final AesKey key;
  private final boolean extractable;

  private AesKeyTemplate(AesKey key, boolean extractable) {
    this.key = key;
    this.extractable = extractable;
  }

  public static Builder builder(AesKey key) {
    return new Builder(key);
  }

  public AesKey key() {
    return key;
  }

  public boolean isExtractable() {
    return extractable;
  }

  AttributeVector toAttributes() {
    return AttributeVector.newAESSecretKey()
        .valueLen(32)
        .token(true)
        .private_(true)
        .sensitive(true)
        .extractable(extractable)
        .encrypt(true)
        .decrypt(true)
        .wrap(false)
        .unwrap(false)
        .sign(false)
        .verify(false)
        .derive(false)
        .label(key.label())
        .id(key.idUnsafe());
  }

  @Override
  public String toString() {
    return "AesKeyTemplate[" + key + ", extractable=" + extractable + "]";
  }

  /** Builds a template; every attribute not named here is fixed (see the class comment). */
  public static final class Builder {
    private final AesKey key;
    private boolean extractable;

    private Builder(AesKey key) {
      this.key = checkNotNull(key, "key");
    }

    /** Allows wrapping the key under another key (never in clear): only for replication designs. */
    public Builder extractable() {
      this.extractable = true;
      return this;
    }

    public AesKeyTemplate build() {
      return new AesKeyTemplate(key, extractable);
    }
  }
}
