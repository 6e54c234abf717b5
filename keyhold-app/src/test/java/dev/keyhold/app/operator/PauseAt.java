package dev.keyhold.app.operator;

import dev.keyhold.kms.metadata.Checkpoints;

/**
 * Checkpoints that stop the process for good at one named step, after printing {@code paused at STEP},
 * so that a test can kill it between two durable steps. The process keeps its database session, and
 * with it its locks, until it is killed.
 */
final class PauseAt implements Checkpoints {
  private final String step;

  PauseAt(String step) {
    this.step = step;
  }

  @Override
  public void reached(String reached) {
    if (reached.equals(step)) {
      System.out.println("paused at " + reached);
      System.out.flush();
      try {
        Thread.sleep(Long.MAX_VALUE);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
