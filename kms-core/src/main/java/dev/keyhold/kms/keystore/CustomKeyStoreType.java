package dev.keyhold.kms.keystore;

/** AWS's custom key store types; Keyhold serves {@link #AWS_CLOUDHSM} only. */
enum CustomKeyStoreType {
  AWS_CLOUDHSM,
  EXTERNAL_KEY_STORE
}
