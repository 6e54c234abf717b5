package dev.keyhold.kms.key;

/** AWS KMS key states (wire values as written) that a key in a CloudHSM key store can be in. */
public enum KeyState {
  /** Written before the key material exists: a CreateKey under way, or one a crash interrupted. */
  Creating,
  Enabled,
  Disabled,
  PendingDeletion,
  /** Its key store is not connected; the stored state returns when it is. */
  Unavailable
}
