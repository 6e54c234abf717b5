package dev.keyhold.server.auth;

import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;

/**
 * The errors AWS answers a request's signature with. The wording is AWS's own (its JSON services'
 * common request authentication), except that nothing here ever repeats a signature or a secret.
 */
final class AuthErrors {
  private AuthErrors() {}

  static KmsException missingAuthenticationToken() {
    return new KmsException(KmsErrorType.MissingAuthenticationTokenException,
        "Request is missing Authentication Token");
  }

  static KmsException incompleteSignature(String message) {
    return new KmsException(KmsErrorType.IncompleteSignatureException, message);
  }

  static KmsException invalidSignature(String message) {
    return new KmsException(KmsErrorType.InvalidSignatureException, message);
  }

  /** An unknown access key id, or a session token, which Keyhold never issues. */
  static KmsException unrecognizedClient() {
    return new KmsException(KmsErrorType.UnrecognizedClientException,
        "The security token included in the request is invalid.");
  }
}
