package dev.keyhold.app.operator;

import dev.keyhold.kms.metadata.JdbcMetadataStore;
import java.nio.file.Path;

/**
 * {@code bin/keyhold master-key rotate} that stops for good at one step of the rotation, printing
 * {@code paused at STEP}, so that a test can kill it there. Arguments: the configuration file, the step
 * (as {@code MasterKeyRotation} names them).
 */
public final class PausingRotation {
  private PausingRotation() {}

  public static void main(String[] args) throws Exception {
    NodeConfig config = ConfigFile.read(Path.of(args[0]), System::getenv).orElseThrow();
    String pauseAt = args[1];
    try (JdbcMetadataStore metadata = OperatorNode.openMetadata(config.metadata())) {
      MasterKeyCommand.rotation(config, metadata, new PauseAt(pauseAt)).rotate();
    }
  }
}
