package dev.keyhold.app.operator;

import dev.keyhold.kms.keystore.KeyStoreSecrets;
import dev.keyhold.kms.metadata.Checkpoints;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.kms.secret.MasterKeyRotation;
import dev.keyhold.server.auth.MetadataCredentials;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold master-key create --config FILE}: makes the configured master key file (0600),
 * once. Every node of the service then uses a copy of that one file; an existing key is never
 * replaced, since what it sealed would no longer open.
 *
 * <p>{@code bin/keyhold master-key rotate --config FILE [--prepare]}: rotates it
 * ({@link MasterKeyRotation}); {@code --prepare} only writes the new key beside it, for nodes that
 * keep copies of the file to receive it first.
 */
@Command(name = "master-key", description = "Manages the master key file.", mixinStandardHelpOptions = true,
    subcommands = {MasterKeyCommand.Create.class, MasterKeyCommand.Rotate.class})
public final class MasterKeyCommand {
  private MasterKeyCommand() {}

  /**
   * The rotation of the master key of the node {@code config} describes, over the secrets in
   * {@code metadata}: the key stores' passwords and the credentials' secrets.
   */
  static MasterKeyRotation rotation(NodeConfig config, MetadataStore metadata, Checkpoints checkpoints) {
    return new MasterKeyRotation(MasterKey.load(config.masterKey()), metadata,
        List.of(new KeyStoreSecrets(), MetadataCredentials.secrets()), checkpoints);
  }

  @Command(name = "rotate", description = "Seals every secret in the metadata store under a new master key, which "
      + "then replaces the old one (kept as FILE.previous). Safe to run again after a failure: it finishes the "
      + "rotation under way.")
  static final class Rotate implements Callable<Integer> {
    @Option(names = "--config", required = true, paramLabel = "FILE", description = "The node's YAML file.")
    Path config;

    @Option(names = "--prepare", description = "Only write the new key to FILE.next, to copy it to every node that "
        + "keeps its own copy of the master key file before the rotation itself.")
    boolean prepare;

    @Override
    public Integer call() {
      NodeConfig node = ConfigFile.read(config, System::getenv).orElseThrow();
      try (JdbcMetadataStore metadata = OperatorNode.openMetadata(node.metadata())) {
        MasterKeyRotation rotation = rotation(node, metadata, Checkpoints.NONE);
        if (prepare) {
          System.out.println("wrote " + rotation.prepare() + " (0600); copy it to every node, then run rotate");
        } else {
          rotation.rotate();
          System.out.println("every secret is sealed under the new master key in " + node.masterKey()
              + "; the old one is kept as " + node.masterKey().getFileName() + ".previous");
        }
      }
      return 0;
    }
  }

  @Command(name = "create", description = "Creates the configured master key file if there is none.")
  static final class Create implements Callable<Integer> {
    @Option(names = "--config", required = true, paramLabel = "FILE", description = "The node's YAML file.")
    Path config;

    @Override
    public Integer call() {
      Path file = ConfigFile.read(config, System::getenv).orElseThrow().masterKey();
      boolean existed = Files.exists(file);
      MasterKey.loadOrCreate(file);
      System.out.println(existed ? file + " exists; it is kept" : file + " created (0600); copy it to every node");
      return 0;
    }
  }
}
