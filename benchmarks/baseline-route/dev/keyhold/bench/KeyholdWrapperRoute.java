package dev.keyhold.bench;

import bench.Route;
import bench.Worker;
import java.io.PrintStream;

/**
 * The adapter with every call through the IAIK wrapper's JNI, whatever the JDK: run beside
 * {@link KeyholdRoute}, which takes the FFM fast path on JDK 22 and newer, it measures the two
 * paths in one run.
 */
public final class KeyholdWrapperRoute implements Route {
  private final KeyholdRoute route;

  public KeyholdWrapperRoute(String modulePath, long slotId, String userPin) {
    // The adapter picks its path once per process, when it first loads a library: before this route's.
    System.setProperty("keyhold.pkcs11.fastPath", "off");
    route = new KeyholdRoute(modulePath, slotId, userPin);
  }

  @Override
  public void setup() {
    route.setup();
  }

  @Override
  public void probe(PrintStream out) {
    route.probe(out);
  }

  @Override
  public Worker newWorker(int idx) {
    return route.newWorker(idx);
  }

  @Override
  public void close() {
    route.close();
  }
}
