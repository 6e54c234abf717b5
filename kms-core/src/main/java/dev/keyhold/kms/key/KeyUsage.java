package dev.keyhold.kms.key;

/** AWS's key usages; a key in a CloudHSM key store can only be {@link #ENCRYPT_DECRYPT}. */
public enum KeyUsage {
  ENCRYPT_DECRYPT,
  SIGN_VERIFY,
  GENERATE_VERIFY_MAC,
  KEY_AGREEMENT
}
