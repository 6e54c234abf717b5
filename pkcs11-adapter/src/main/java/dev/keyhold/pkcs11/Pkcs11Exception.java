package dev.keyhold.pkcs11;

import java.util.Optional;

/**
 * A failure reported by a token or by this adapter. Each subclass names one thing a caller can act on;
 * {@link #returnValue()} keeps the PKCS#11 return value ({@code CKR_...}) for logs and operators.
 *
 * <p>Messages name the token, the PKCS#11 function and the return value, never a PIN or key material.
 */
public abstract class Pkcs11Exception extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String returnValue;

  Pkcs11Exception(String message, String returnValue, Throwable cause) {
    super(message, cause);
    this.returnValue = returnValue;
  }

  /** The {@code CKR_...} name the module returned, or empty when the adapter raised this itself. */
  public Optional<String> returnValue() {
    return Optional.ofNullable(returnValue);
  }
}
