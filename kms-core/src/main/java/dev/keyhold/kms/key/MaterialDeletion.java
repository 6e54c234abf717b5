package dev.keyhold.kms.key;

import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.ObjectNotFoundException;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Token;

/**
 * What deleting a key's material did on one HSM, as {@code key_material_deletions} records it.
 *
 * @param detail why, in words, for the operator
 */
record MaterialDeletion(Status status, String detail) {
  /** A row starts PENDING when the deletion is claimed; the other three end it (FAILURE is retried). */
  enum Status {
    PENDING,
    SUCCESS,
    /** The HSM had no material to destroy. */
    ABSENT,
    FAILURE
  }

  /** Destroys {@code material} on {@code token}, and says how that went. */
  static MaterialDeletion destroy(Token token, AesKey material) {
    try {
      token.destroyKey(material);
      return new MaterialDeletion(Status.SUCCESS, "destroyed");
    } catch (ObjectNotFoundException e) {
      return new MaterialDeletion(Status.ABSENT, "no material on this HSM");
    } catch (Pkcs11Exception e) {
      return failure(e.getMessage());
    }
  }

  static MaterialDeletion failure(String why) {
    return new MaterialDeletion(Status.FAILURE, why);
  }

  boolean failed() {
    return status == Status.FAILURE;
  }
}
