package dev.keyhold.cluster;

/**
 * The state of one HSM, named as AWS CloudHSM's {@code DescribeClusters} names it, so that an operator
 * can copy a CloudHSM cluster's states into the clusters file as they are. Only {@link #ACTIVE} HSMs
 * take work.
 */
public enum HsmState {
  /** Being created; it holds no keys yet. */
  CREATE_IN_PROGRESS,
  /** Up and serving requests. */
  ACTIVE,
  /** Reported unhealthy; it may be replaced, so it takes no work. */
  DEGRADED,
  /** Being removed from its cluster. */
  DELETE_IN_PROGRESS,
  /** Gone; kept in the file only so that its id is not reused by mistake. */
  DELETED
}
