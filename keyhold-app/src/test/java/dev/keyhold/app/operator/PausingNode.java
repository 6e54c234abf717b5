package dev.keyhold.app.operator;

import java.nio.file.Path;

/**
 * A node in operator mode that stops for good when one of its connects reaches a named step, so that
 * a test can kill it between two durable steps of a kmsuser password rotation. It prints
 * {@code paused at STEP} there; it serves (and holds its database session, and with it its locks)
 * until it is killed.
 *
 * <p>Arguments: the configuration file, the step (as {@code KeyStoreConnections} names them).
 */
public final class PausingNode {
  private PausingNode() {}

  public static void main(String[] args) throws Exception {
    NodeConfig config = ConfigFile.read(Path.of(args[0]), System::getenv).orElseThrow();
    String pauseAt = args[1];
    OperatorNode node = OperatorNode.start(config, new PauseAt(pauseAt));
    System.out.println("Keyhold node " + config.node() + " serves the AWS KMS API at " + node.server().uri());
  }
}
