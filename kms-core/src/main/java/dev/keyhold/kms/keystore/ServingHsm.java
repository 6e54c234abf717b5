package dev.keyhold.kms.keystore;

import dev.keyhold.pkcs11.Token;

/**
 * One HSM of a connected store as crypto sees it: its kmsuser login and whether it answers. An HSM
 * that stops answering is marked lost by the call that saw it, so other calls pass it by until a
 * health probe (or a call that finds no other HSM) shows it back.
 *
 * <p>Thread-safe.
 */
public final class ServingHsm {
  private final String hsmId;
  private final Token token;
  private volatile boolean lost;

  ServingHsm(String hsmId, Token token) {
    this.hsmId = hsmId;
    this.token = token;
  }

  public String hsmId() {
    return hsmId;
  }

  public Token token() {
    return token;
  }

  /** Whether the last call or probe on this HSM found it unreachable. */
  public boolean isLost() {
    return lost;
  }

  public void markLost() {
    lost = true;
  }

  public void markAnswering() {
    lost = false;
  }

  @Override
  public String toString() {
    return "ServingHsm[" + hsmId + (lost ? ", lost]" : "]");
  }
}
