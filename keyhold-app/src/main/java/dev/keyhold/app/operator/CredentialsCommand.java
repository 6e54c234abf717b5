package dev.keyhold.app.operator;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.policy.IdentityPolicies;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.MetadataCredentials;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold credentials create|list|disable|delete|put-policy|get-policy|delete-policy --config
 * FILE}: the access keys of every node and the identity policies of their principals, in the configured
 * metadata store. A new secret is printed once, and is never shown again.
 */
@Command(name = "credentials",
    description = "Manages the access keys callers sign with, and their principals' identity policies, on every node.",
    mixinStandardHelpOptions = true,
    subcommands = {CredentialsCommand.Create.class, CredentialsCommand.List.class, CredentialsCommand.Disable.class,
        CredentialsCommand.Delete.class, CredentialsCommand.PutPolicy.class, CredentialsCommand.GetPolicy.class,
        CredentialsCommand.DeletePolicy.class})
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
        return run(new MetadataCredentials(metadata, MasterKey.load(node.masterKey()), Clock.systemUTC()),
            new IdentityPolicies(metadata));
      } catch (KmsException e) {
        System.err.println(e.type() + ": " + e.getMessage());
        return 1;
      }
    }

    abstract int run(MetadataCredentials credentials, IdentityPolicies policies) throws Exception;
  }

  @Command(name = "create", description = "Creates an access key for a principal and prints it, once.")
  static final class Create extends WithConfig {
    @Option(names = "--principal", required = true, paramLabel = "ARN",
        description = "arn:aws:iam::<account>:root, :user/<name> or :role/<name>.")
    String principal;

    @Option(names = "--administrator", description = "Attaches the identity policy "
        + IdentityPolicies.ADMINISTRATOR + " to the principal: it may run the custom key store operations.")
    boolean administrator;

    @Override
    int run(MetadataCredentials credentials, IdentityPolicies policies) throws Exception {
      Credential credential = Credential.generate(principal, new SecureRandom());
      credentials.create(credential);
      if (administrator) {
        policies.put(principal, IdentityPolicies.ADMINISTRATOR, IdentityPolicies.ADMINISTRATOR_DOCUMENT);
      }
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
    int run(MetadataCredentials credentials, IdentityPolicies policies) throws Exception {
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
    int run(MetadataCredentials credentials, IdentityPolicies policies) {
      return found(credentials.disable(accessKeyId));
    }
  }

  @Command(name = "delete", description = "Deletes an access key: every node refuses it within a second.")
  static final class Delete extends OnAccessKey {
    @Override
    int run(MetadataCredentials credentials, IdentityPolicies policies) {
      return found(credentials.delete(accessKeyId));
    }
  }

  /** What the policy subcommands take: the principal and the policy's name. */
  abstract static class OnPolicy extends WithConfig {
    @Option(names = "--principal", required = true, paramLabel = "ARN",
        description = "The user or role (its sessions too) the policy is attached to.")
    String principal;

    @Option(names = "--policy-name", required = true, paramLabel = "NAME")
    String policyName;
  }

  @Command(name = "put-policy",
      description = "Attaches an IAM-shaped identity policy to a principal, replacing one of that name; every node "
          + "applies it within a second.")
  static final class PutPolicy extends OnPolicy {
    @Option(names = "--policy-document", required = true, paramLabel = "FILE",
        description = "The policy's JSON: statements without Principal, as IAM's identity policies.")
    Path document;

    @Override
    int run(MetadataCredentials credentials, IdentityPolicies policies) {
      String text;
      try {
        text = Files.readString(document);
      } catch (IOException e) {
        System.err.println("cannot read the policy document " + document + ": " + e);
        return 1;
      }
      policies.put(principal, policyName, text);
      return 0;
    }
  }

  @Command(name = "get-policy", description = "Prints a principal's identity policy.")
  static final class GetPolicy extends OnPolicy {
    @Override
    int run(MetadataCredentials credentials, IdentityPolicies policies) {
      Optional<String> document = policies.get(principal, policyName);
      document.ifPresentOrElse(System.out::println,
          () -> System.err.println("no policy " + policyName + " on " + principal));
      return document.isPresent() ? 0 : 1;
    }
  }

  @Command(name = "delete-policy",
      description = "Detaches a principal's identity policy; every node stops applying it within a second.")
  static final class DeletePolicy extends OnPolicy {
    @Override
    int run(MetadataCredentials credentials, IdentityPolicies policies) {
      if (!policies.delete(principal, policyName)) {
        System.err.println("no policy " + policyName + " on " + principal);
        return 1;
      }
      return 0;
    }
  }
}
