package dev.keyhold.server.auth;

import java.util.Optional;

/** Where the authenticator finds the access key a request signed with. */
public interface Credentials {
  /** The active credential of {@code accessKeyId}; empty if there is none, or it is disabled. */
  Optional<Credential> lookup(String accessKeyId);
}
