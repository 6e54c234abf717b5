package dev.keyhold.kms.keystore;

/** Why a connection attempt ended FAILED (the AWS CloudHSM key store codes). */
public enum ConnectionErrorCode {
  /** Anything unexpected; disconnect, then connect again. */
  INTERNAL_ERROR,
  /** An HSM's library or token could not be reached. */
  NETWORK_ERRORS,
  /** The clusters file names no cluster with the store's cluster id. */
  CLUSTER_NOT_FOUND,
  /** The cluster has no active HSM. */
  INSUFFICIENT_CLOUDHSM_HSMS,
  /** No password the store knows opens kmsuser on an HSM. */
  INVALID_CREDENTIALS,
  /** kmsuser is locked after too many failed logins. */
  USER_LOCKED_OUT,
  /** The HSM has no kmsuser (its user PIN was never set). */
  USER_NOT_FOUND,
  /** Someone else is logged in to the HSM, so kmsuser cannot log in or change its password. */
  USER_LOGGED_IN
}
