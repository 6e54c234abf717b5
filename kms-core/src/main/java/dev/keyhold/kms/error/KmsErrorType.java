package dev.keyhold.kms.error;

/**
 * The AWS KMS error types Keyhold answers with. Each constant's name is the exact {@code __type} AWS
 * sends; client errors go out as HTTP 400, as the real service does, whatever the Smithy model says.
 */
public enum KmsErrorType {
  // Key stores and clusters.
  CloudHsmClusterInUseException,
  CloudHsmClusterInvalidConfigurationException,
  CloudHsmClusterNotActiveException,
  CloudHsmClusterNotFoundException,
  CloudHsmClusterNotRelatedException,
  CustomKeyStoreHasCMKsException,
  CustomKeyStoreInvalidStateException,
  CustomKeyStoreNameInUseException,
  CustomKeyStoreNotFoundException,
  IncorrectTrustAnchorException,
  // KMS keys.
  NotFoundException,
  KMSInvalidStateException,
  DisabledException,
  InvalidCiphertextException,
  IncorrectKeyException,
  InvalidKeyUsageException,
  AlreadyExistsException,
  InvalidAliasNameException,
  TagException,
  MalformedPolicyDocumentException,
  // The request itself: its signature, its caller's rights, its form.
  AccessDeniedException,
  IncompleteSignatureException,
  InvalidSignatureException,
  MissingAuthenticationTokenException,
  UnrecognizedClientException,
  SerializationException,
  UnknownOperationException,
  InvalidArnException,
  // General.
  InvalidMarkerException,
  LimitExceededException,
  UnsupportedOperationException,
  ValidationException,
  KMSInternalException(500),
  DependencyTimeoutException(503);

  private final int httpStatus;

  KmsErrorType() {
    this(400);
  }

  KmsErrorType(int httpStatus) {
    this.httpStatus = httpStatus;
  }

  /** 400 for every client error, 500 or 503 for server faults. */
  public int httpStatus() {
    return httpStatus;
  }

  public boolean isServerFault() {
    return httpStatus >= 500;
  }
}
