package dev.keyhold.server.auth;

import dev.keyhold.kms.error.KmsException;

/** Proves who sent a request. */
public interface RequestAuthenticator {
  /**
   * Checks the signature of {@code request} and returns who signed it.
   *
   * @throws KmsException {@code MissingAuthenticationTokenException}, {@code IncompleteSignatureException},
   *     {@code InvalidSignatureException} (wrong, expired or future-dated signature) or
   *     {@code UnrecognizedClientException} (unknown access key id), with AWS's messages
   */
  Caller authenticate(HttpRequestView request);
}
