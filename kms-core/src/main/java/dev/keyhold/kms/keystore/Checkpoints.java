package dev.keyhold.kms.keystore;

/**
 * Named points between two durable steps (of a kmsuser password rotation, of a CreateKey), so that a
 * test can stop the process at each one in turn and prove that a restart always converges.
 * Production passes {@link #NONE}.
 */
@FunctionalInterface
public interface Checkpoints {
  Checkpoints NONE = step -> { };

  /** Called when {@code step} is durably done (see {@link KeyStoreConnections} and KmsKeys). */
  void reached(String step);
}
