package dev.keyhold.kms.key;

/** Where a KMS key's material came from, as KeyMetadata's Origin names it. */
public enum Origin {
  /** A key of the default key store, shown as AWS shows keys of AWS KMS's own key store. */
  AWS_KMS,
  EXTERNAL,
  /** A key of a custom key store named in CreateKey. */
  AWS_CLOUDHSM,
  EXTERNAL_KEY_STORE
}
