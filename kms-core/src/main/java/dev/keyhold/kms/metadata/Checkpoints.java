package dev.keyhold.kms.metadata;

/**
 * Named points between two durable steps (of a kmsuser password rotation, a CreateKey, a master key
 * rotation), so that a test can stop the process at each one in turn and prove that a restart always
 * converges.
 * Production passes {@link #NONE}.
 */
@FunctionalInterface
public interface Checkpoints {
  Checkpoints NONE = step -> { };

  /** Called when {@code step} is durably done (see KeyStoreConnections, KmsKeys and MasterKeyRotation). */
  void reached(String step);
}
