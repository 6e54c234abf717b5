package dev.keyhold.app.operator;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code bin/keyhold migrate --from-home DIR --config FILE}: an embedded home into operator mode ({@link HomeMigration}). */
@Command(name = "migrate", mixinStandardHelpOptions = true,
    description = "Moves an embedded home's metadata and credentials into the configured database, once.")
public final class MigrateCommand implements Callable<Integer> {
  @Option(names = "--from-home", required = true, paramLabel = "DIR", description = "The embedded home, e.g. ~/.keyhold.")
  Path home;

  @Option(names = "--config", required = true, paramLabel = "FILE", description = "The node's YAML file.")
  Path config;

  @Override
  public Integer call() {
    HomeMigration.Outcome outcome = HomeMigration.migrate(home, ConfigFile.read(config, System::getenv).orElseThrow());
    System.out.println(outcome.alreadyMigrated()
        ? home + " is in the database already; nothing changed"
        : "moved " + outcome.rowsCopied() + " rows and " + outcome.credentialsMoved() + " credential(s) from " + home);
    return 0;
  }
}
