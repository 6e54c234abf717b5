package dev.keyhold.cluster;

import static com.google.common.base.Preconditions.checkNotNull;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A clusters file, re-read when it changes on disk (its modification time or size), so that a
 * cluster provisioned, or an HSM added, while the service runs is seen without a restart. A file that
 * does not read is reported in the log, and the clusters read before stay in force.
 */
public final class ClusterFileWatcher implements Clusters, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterFileWatcher.class);

  private final Path file;
  private final ScheduledExecutorService checker;
  private volatile ClusterRegistry current;
  private Object stamp; // of the file last read, or last found broken; only the checker's thread touches it

  private ClusterFileWatcher(Path file, ClusterRegistry first, Object stamp) {
    this.file = file;
    this.current = first;
    this.stamp = stamp;
    this.checker = Executors.newSingleThreadScheduledExecutor(runnable -> {
      Thread thread = new Thread(runnable, "keyhold-clusters-file");
      thread.setDaemon(true);
      return thread;
    });
  }

  /**
   * Reads {@code file} now, then checks it every {@code interval}.
   *
   * @throws InvalidClusterFileException if it does not read now: a service does not start on it
   */
  public static ClusterFileWatcher watch(Path file, Duration interval) {
    checkNotNull(file, "file");
    Object stamp = stampOf(file);
    ClusterFileWatcher watcher = new ClusterFileWatcher(file, ClusterFile.read(file), stamp);
    // The future is not needed: check() logs its own failures, and close() stops the checker.
    Future<?> unused = watcher.checker.scheduleWithFixedDelay(
        watcher::check, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    return watcher;
  }

  @Override
  public ClusterRegistry current() {
    return current;
  }

  private void check() {
    try {
      Object now = stampOf(file);
      if (Objects.equals(now, stamp)) {
        return;
      }
      stamp = now;
      ClusterRegistry read = ClusterFile.read(file);
      current = read;
      LOG.info("clusters file {} re-read: {} cluster(s)", file, read.all().size());
    } catch (UncheckedIOException | IllegalArgumentException e) { // InvalidClusterFileException, a clash of ids
      LOG.error("clusters file {} does not read, the clusters read before stay in force: {}", file, e.getMessage());
    } catch (RuntimeException e) {
      LOG.error("checking the clusters file {} failed", file, e);
    }
  }

  /** What changes when the file does: its modification time and size; null while there is no file. */
  private static Object stampOf(Path file) {
    try {
      BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
      return attributes.lastModifiedTime().toMillis() + "/" + attributes.size();
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the clusters file " + file, e);
    }
  }

  @Override
  public void close() {
    checker.shutdownNow();
  }
}
