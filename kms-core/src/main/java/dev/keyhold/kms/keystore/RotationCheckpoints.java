package dev.keyhold.kms.keystore;

/**
 * Named points of a kmsuser password rotation, so that a test can stop the process at each one in
 * turn and prove that a restart always converges. Production passes {@link #NONE}.
 */
@FunctionalInterface
public interface RotationCheckpoints {
  RotationCheckpoints NONE = step -> { };

  /** Called when the rotation has durably done {@code step} (see {@link KeyStoreConnections}). */
  void reached(String step);
}
