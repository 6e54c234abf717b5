package dev.keyhold.kms.keystore;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.Token;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connected key store's logins: one {@link Token} per active HSM, logged in as kmsuser (or awaiting
 * its login, for an HSM that did not answer at connect), and which of them answer. Built by the
 * connecting thread before the store is visible; its list of HSMs is fixed after, so that whatever
 * is indexed by it (a key's Aead per HSM) stays aligned.
 */
public final class ConnectedStore implements AutoCloseable {
  private final List<Pkcs11Module> modules = new ArrayList<>();
  private final List<ServingHsm> building = new ArrayList<>();
  private ImmutableList<ServingHsm> hsms = ImmutableList.of();
  /** Where the next operation starts, so that work spreads over the HSMs. */
  private final AtomicInteger next = new AtomicInteger();

  void add(Pkcs11Module module) {
    modules.add(module);
  }

  void add(String hsmId, Token token) {
    add(new ServingHsm(hsmId, token, false));
  }

  /** Adds an HSM that did not answer, at its place in the cluster's order, to be logged in to later. */
  void addAwaitingLogin(String hsmId, Token token) {
    add(new ServingHsm(hsmId, token, true));
  }

  private void add(ServingHsm hsm) {
    building.add(hsm);
    hsms = ImmutableList.copyOf(building);
  }

  Token token(String hsmId) {
    return hsms.stream().filter(hsm -> hsm.hsmId().equals(hsmId)).findFirst().map(ServingHsm::token).orElse(null);
  }

  /** The HSMs logged in, in the cluster's order. */
  public ImmutableList<ServingHsm> hsms() {
    return hsms;
  }

  /** The logged-in tokens by HSM id. */
  public ImmutableMap<String, Token> tokens() {
    ImmutableMap.Builder<String, Token> tokens = ImmutableMap.builder();
    hsms.forEach(hsm -> tokens.put(hsm.hsmId(), hsm.token()));
    return tokens.build();
  }

  /**
   * Whether each HSM stands alone, so that Keyhold must copy every key to every HSM itself (SoftHSM2
   * tokens), rather than the cluster syncing keys (AWS CloudHSM).
   */
  public boolean replicatesKeys() {
    return !hsms.isEmpty() && !hsms.get(0).token().profile().clusterSyncsKeys();
  }

  /** The index of the HSM where the next operation should start: round robin over {@link #hsms()}. */
  public int nextStart() {
    return Math.floorMod(next.getAndIncrement(), hsms.size());
  }

  /** Logs out of every HSM: closes the tokens, then releases the libraries. */
  @Override
  public void close() {
    hsms.forEach(hsm -> hsm.token().close());
    building.clear();
    hsms = ImmutableList.of();
    modules.forEach(Pkcs11Module::close);
    modules.clear();
  }
}
