package dev.keyhold.cluster;

/**
 * The clusters the service knows now: a fixed {@link ClusterRegistry}, or a clusters file that is
 * re-read when it changes ({@link ClusterFileWatcher}). Callers ask for {@link #current()} each time
 * they need a cluster, and keep no copy.
 */
public interface Clusters {
  ClusterRegistry current();
}
