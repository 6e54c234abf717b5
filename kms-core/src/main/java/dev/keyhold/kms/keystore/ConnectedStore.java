package dev.keyhold.kms.keystore;

import com.google.common.collect.ImmutableMap;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.Token;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** A connected key store's logins: one {@link Token} per active HSM, logged in as kmsuser. */
public final class ConnectedStore implements AutoCloseable {
  private final List<Pkcs11Module> modules = new ArrayList<>();
  private final Map<String, Token> tokens = new LinkedHashMap<>();

  void add(Pkcs11Module module) {
    modules.add(module);
  }

  void add(String hsmId, Token token) {
    tokens.put(hsmId, token);
  }

  Token token(String hsmId) {
    return tokens.get(hsmId);
  }

  /**
   * The token that holds and serves the store's keys: the first active HSM logged in. Until keys are
   * replicated, it is where CreateKey generates material and where crypto runs.
   */
  public Optional<Token> primaryToken() {
    return tokens.values().stream().findFirst();
  }

  /** The logged-in tokens by HSM id. */
  public ImmutableMap<String, Token> tokens() {
    return ImmutableMap.copyOf(tokens);
  }

  /** Logs out of every HSM: closes the tokens, then releases the libraries. */
  @Override
  public void close() {
    tokens.values().forEach(Token::close);
    tokens.clear();
    modules.forEach(Pkcs11Module::close);
    modules.clear();
  }
}
