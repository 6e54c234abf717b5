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
  private volatile boolean awaitingLogin;

  /**
   * @param awaitingLogin whether the HSM did not answer when the store connected, so that this node
   *     has not logged in to it yet; it counts as lost until {@link KeyStoreConnections} logs in
   */
  ServingHsm(String hsmId, Token token, boolean awaitingLogin) {
    this.hsmId = hsmId;
    this.token = token;
    this.lost = awaitingLogin;
    this.awaitingLogin = awaitingLogin;
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
    lost = awaitingLogin;
  }

  /**
   * Whether this node has yet to log in to the HSM, which did not answer when the store connected.
   * Only {@link KeyStoreConnections} logs in to it, since it alone knows which passwords the HSM may
   * hold; every call on it fails until then, without reaching the HSM.
   */
  public boolean isAwaitingLogin() {
    return awaitingLogin;
  }

  void loggedIn() {
    awaitingLogin = false;
    lost = false;
  }

  @Override
  public String toString() {
    return "ServingHsm[" + hsmId + (awaitingLogin ? ", awaiting login]" : lost ? ", lost]" : "]");
  }
}
