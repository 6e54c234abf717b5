package dev.keyhold.app.operator;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.MetadataCredentials;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold credentials create|list|disable|delete --config FILE}: the access keys of every
 * node, in the configured metadata store. A new secret is printed once, and is never shown again.
 */
@Command(name = "credentials", description = "Manages the access keys callers sign with, on every node.",
    mixinStandardHelpOptions = true,
    subcommands = {CredentialsCommand.Create.class, CredentialsCommand.List.class, CredentialsCommand.Disable.class,
        CredentialsCommand.Delete.class})
public final class CredentialsCommand {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** What every subcommand takes: the node's configuration. */
  abstract static class WithConfig implements Callable<Integer> {
    @Option(names = "--config", required = true, paramLabel = "FILE", description = "The node's YAML file.")
    Path config;

    @Override
    public final Integer call() throws Exception {
      NodeConfig node = ConfigFile.read(config, System::getenv).orElseThrow();
      try (JdbcMetadataStore metadata = OperatorNode.openMetadata(node.metadata())) {
        return run(new MetadataCredentials(metadata, MasterKey.load(node.masterKey()), Clock.systemUTC()));
      }
    }

    abstract int run(MetadataCredentials credentials) throws Exception;
  }

  @Command(name = "create", description = "Creates an access key for a principal and prints it, once.")
  static final class Create extends WithConfig {
    @Option(names = "--principal", required = true, paramLabel = "ARN",
        description = "arn:aws:iam::<account>:root, :user/<name> or :role/<name>.")
    String principal;

    @Option(names = "--administrator", description = "May run the custom key store operations.")
    boolean administrator;

    @Override
    int run(MetadataCredentials credentials) throws Exception {
      Credential credential = Credential.generate(principal, administrator, new SecureRandom());
      credentials.create(credential);
      Map<String, Object> printed = new LinkedHashMap<>();
      printed.put("AccessKeyId", credential.accessKeyId());
      printed.put("SecretAccessKey", credential.secretAccessKey().withChars(String::valueOf));
      printed.put("Principal", credential.principalArn());
      System.out.println(JSON.writeValueAsString(printed));
      return 0;
    }
  }

  @Command(name = "list", description = "Lists the access keys, never their secrets.")
  static final class List extends WithConfig {
    @Override
    int run(MetadataCredentials credentials) throws Exception {
      System.out.println(JSON.writeValueAsString(credentials.list()));
      return 0;
    }
  }

  /** What disable and delete take: the access key. */
  abstract static class OnAccessKey extends WithConfig {
    @Option(names = "--access-key-id", required = true)
    String accessKeyId;

    /** Prints why when there is no such access key, and answers the exit code. */
    int found(boolean found) {
      if (!found) {
        System.err.println("no access key " + accessKeyId);
        return 1;
      }
      return 0;
    }
  }

  @Command(name = "disable", description = "Disables an access key: every node refuses it within a second.")
  static final class Disable extends OnAccessKey {
    @Override
    int run(MetadataCredentials credentials) {
      return found(credentials.disable(accessKeyId));
    }
  }

  @Command(name = "delete", description = "Deletes an access key: every node refuses it within a second.")
  static final class Delete extends OnAccessKey {
    @Override
    int run(MetadataCredentials credentials) {
      return found(credentials.delete(accessKeyId));
    }
  }
}
