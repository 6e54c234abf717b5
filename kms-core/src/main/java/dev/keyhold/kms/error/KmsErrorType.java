package dev.keyhold.kms.error;

/**
 * The AWS KMS error types of kms-core's operations. Each constant's name is the exact {@code __type}
 * AWS sends. How an error travels (its HTTP status) is the server's business.
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
  // Grants.
  InvalidGrantTokenException,
  InvalidGrantIdException,
  // The caller's rights, the request's form.
  AccessDeniedException,
  InvalidArnException,
  // General.
  InvalidMarkerException,
  /** A request with DryRun that would have succeeded: the answer of a dry run, not a fault. */
  DryRunOperationException,
  LimitExceededException,
  UnsupportedOperationException,
  ValidationException,
  /** A fault of the service, not of the request. */
  KMSInternalException,
  /** The service could not answer in time. */
  DependencyTimeoutException
}
