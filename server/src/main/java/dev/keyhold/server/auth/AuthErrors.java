package dev.keyhold.server.auth;

import dev.keyhold.server.WireException;

/**
 * The errors AWS answers a request's signature with. The wording is AWS's own (its JSON services'
 * common request authentication), except that nothing here ever repeats a signature or a secret.
 */
final class AuthErrors {
  private AuthErrors() {}

  static WireException missingAuthenticationToken() {
    return new WireException(WireException.Type.MissingAuthenticationTokenException,
        "Request is missing Authentication Token");
  }

  static WireException incompleteSignature(String message) {
    return new WireException(WireException.Type.IncompleteSignatureException, message);
  }

  static WireException invalidSignature(String message) {
    return new WireException(WireException.Type.InvalidSignatureException, message);
  }

  /** An unknown access key id, or a session token, which Keyhold never issues. */
  static WireException unrecognizedClient() {
    return new WireException(WireException.Type.UnrecognizedClientException,
        "The security token included in the request is invalid.");
  }
}
