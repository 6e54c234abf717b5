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
 *   <tr><td>{@code CKA_EXTRACTABLE}</td><td>false unless {@link Builder#replicable()}: no
 *       {@code C_WrapKey} at all</td></tr>
 *   <tr><td>{@code CKA_WRAP_WITH_TRUSTED}</td><td>true when replicable: only a key the SO marked
 *       {@code CKA_TRUSTED} may wrap it, so the user cannot wrap it under a key of their own</td></tr>
 *   <tr><td>{@code CKA_ENCRYPT} / {@code CKA_DECRYPT}</td><td>true</td></tr>
 *   <tr><td>{@code CKA_WRAP} / {@code CKA_UNWRAP} / {@code CKA_SIGN} / {@code CKA_VERIFY} /
 *       {@code CKA_DERIVE}</td><td>false: the key does one job</td></tr>
 *   <tr><td>{@code CKA_LABEL} / {@code CKA_ID}</td><td>from the caller</td></tr>
 * </table>
 */
public final class AesKeyTemplate {
  private final AesKey key;
  private final boolean replicable;

  private AesKeyTemplate(AesKey key, boolean replicable) {
    this.key = key;
    this.replicable = replicable;
  }

  public static Builder builder(AesKey key) {
    return new Builder(key);
  }

  public AesKey key() {
    return key;
  }

  public boolean isReplicable() {
    return replicable;
  }

  AttributeVector toAttributes() {
    return toUnwrapAttributes().valueLen(32);
  }

  /** The same, less {@code CKA_VALUE_LEN}: an unwrapped key's length comes with it. */
  AttributeVector toUnwrapAttributes() {
    return attributes(replicable).label(key.label()).id(key.idUnsafe());
  }

  /**
   * What every replica must be, whoever unwraps it: the unwrap template of a trusted wrapping key
   * ({@link SecurityOfficer}), which the token enforces against the unwrapping caller's template.
   */
  static AttributeVector replicaAttributes() {
    return attributes(true);
  }

  private static AttributeVector attributes(boolean replicable) {
    return AttributeVector.newAESSecretKey()
        .token(true)
        .private_(true)
        .sensitive(true)
        .extractable(replicable)
        .wrapWithTrusted(replicable)
        .encrypt(true)
        .decrypt(true)
        .wrap(false)
        .unwrap(false)
        .sign(false)
        .verify(false)
        .derive(false);
  }

  @Override
  public String toString() {
    return "AesKeyTemplate[" + key + ", replicable=" + replicable + "]";
  }

  /** Builds a template; every attribute not named here is fixed (see the class comment). */
  public static final class Builder {
    private final AesKey key;
    private boolean replicable;

    private Builder(AesKey key) {
      this.key = checkNotNull(key, "key");
    }

    /**
     * Lets the key be copied to another HSM, wrapped (never in clear) under a wrapping key the SO
     * marked trusted: {@code CKA_EXTRACTABLE} and {@code CKA_WRAP_WITH_TRUSTED} true.
     */
    public Builder replicable() {
      this.replicable = true;
      return this;
    }

    public AesKeyTemplate build() {
      return new AesKeyTemplate(key, replicable);
    }
  }
}
