package dev.keyhold.app.operator;

import dev.keyhold.kms.secret.MasterKey;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold master-key create --config FILE}: makes the configured master key file (0600),
 * once. Every node of the service then uses a copy of that one file; an existing key is never
 * replaced, since what it sealed would no longer open.
 */
@Command(name = "master-key", description = "Manages the master key file.", mixinStandardHelpOptions = true,
    subcommands = MasterKeyCommand.Create.class)
public final class MasterKeyCommand {
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
