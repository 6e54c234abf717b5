package dev.keyhold.app;

import com.google.common.collect.ImmutableList;
import dev.keyhold.app.operator.AuditCommand;
import dev.keyhold.app.operator.ConfigFile;
import dev.keyhold.app.operator.CredentialsCommand;
import dev.keyhold.app.operator.MasterKeyCommand;
import dev.keyhold.app.operator.MigrateCommand;
import dev.keyhold.app.operator.NodeCheck;
import dev.keyhold.app.operator.OperatorNode;
import dev.keyhold.kms.key.Account;
import dev.keyhold.server.KeyholdServer;
import dev.keyhold.server.ServerTls;
import dev.keyhold.server.auth.Credential;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.function.UnaryOperator;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold}: runs the embedded default Keyhold ({@link LocalKeyhold}) behind the AWS KMS
 * API on this machine, with a credential for the account root written where a user can source it,
 * until interrupted; with {@code --config FILE}, one node in operator mode ({@link OperatorNode}).
 * Shutting down lets requests in flight finish.
 */
@Command(name = "keyhold", mixinStandardHelpOptions = true,
    description = "Serves the AWS KMS API over a local SoftHSM2 cluster (provisioned on the first run), or, with "
        + "--config, as one node of a service configured in a YAML file.",
    subcommands = {CredentialsCommand.class, MasterKeyCommand.class, MigrateCommand.class, AuditCommand.class})
public final class KeyholdCommand implements Callable<Integer> {
  @Option(names = "--config", paramLabel = "FILE", description = "Run one node in operator mode, as FILE describes "
      + "(docs/deployment.md); the other options do not apply.")
  Path config;

  @Option(names = "--check", description = "With --config: check the node's configuration, and what it names, "
      + "without serving; exit 1 if anything is wrong.")
  boolean check;

  @Option(names = "--home", paramLabel = "DIR", description = "Where Keyhold keeps its HSMs, metadata and "
      + "credentials (default: ~/.keyhold).")
  Path home = Path.of(System.getProperty("user.home"), ".keyhold");

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--port", defaultValue = "4599", description = "Port (default ${DEFAULT-VALUE}; 0: any free port).")
  int port;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path softHsmLibrary;

  @Option(names = "--account", defaultValue = "111122223333", description = "AWS account id to answer as.")
  String accountId;

  @Option(names = "--region", defaultValue = "us-east-1", description = "Region to answer as.")
  String region;

  @Option(names = "--tls", description = "Serve HTTPS with a self-signed certificate for localhost, written to "
      + "<home>/tls-certificate.pem for clients to trust.")
  boolean tls;

  @Override
  @SuppressWarnings("ClosingStandardOutputStreams") // System.out is only passed to a factory; nothing closes it
  public Integer call() throws Exception {
    if (config != null) {
      return operatorMode();
    }
    if (check) {
      throw new CommandLine.ParameterException(new CommandLine(this), "--check needs --config FILE");
    }
    Account account = new Account(accountId, region);
    Files.createDirectories(home);
    Optional<ServerTls> selfSigned = tls ? Optional.of(selfSignedTls()) : Optional.empty();
    UnaryOperator<KeyholdServer.Builder> listen = builder -> {
      builder.host(host).port(port);
      selfSigned.ifPresent(builder::tls);
      return builder;
    };
    LocalKeyhold keyhold = LocalKeyhold.start(home, softHsmLibrary, account, System.out, listen);
    try {
      printUsage(keyhold.server(), writeEnvironment(keyhold.root(), keyhold.server(), account));
    } catch (IOException | RuntimeException e) {
      keyhold.close();
      throw e;
    }
    serveUntilShutdown(keyhold::close);
    return 0;
  }

  /** {@code --config FILE [--check]}: checks, or runs, one node in operator mode. */
  private int operatorMode() throws Exception {
    ConfigFile.Read read = ConfigFile.read(config, System::getenv);
    ImmutableList<ConfigFile.Problem> problems = check ? NodeCheck.problems(read) : read.problems();
    if (!problems.isEmpty()) {
      problems.forEach(problem -> System.err.println(config + ": " + problem));
      return 1;
    }
    if (check) {
      System.out.println(config + ": no problems found");
      return 0;
    }
    OperatorNode node = OperatorNode.start(read.orElseThrow());
    System.out.println("Keyhold node " + read.orElseThrow().node() + " serves the AWS KMS API at " + node.server().uri());
    serveUntilShutdown(node::close);
    return 0;
  }

  /**
   * Serves until the JVM shuts down, then runs {@code close} in the shutdown: the server stops
   * gracefully (requests in flight finish first), then what it served, the audit log's close line
   * among it. In the shutdown, not after it: the JVM halts once its shutdown hooks return.
   */
  private static void serveUntilShutdown(Runnable close) throws InterruptedException {
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        close.run();
      } finally {
        stopped.countDown();
      }
    }, "keyhold-shutdown"));
    stopped.await();
  }

  /** A self-signed certificate for localhost and the host, written where clients can trust it. */
  private ServerTls selfSignedTls() throws GeneralSecurityException, IOException {
    ServerTls selfSigned = ServerTls.selfSigned(List.of("localhost", host));
    Files.writeString(home.resolve("tls-certificate.pem"), selfSigned.certificatePem());
    return selfSigned;
  }

  /** {@code <home>/credentials.env}, 0600: what the AWS CLI and SDKs read from the environment. */
  private Path writeEnvironment(Credential root, KeyholdServer server, Account account) throws IOException {
    Path file = home.resolve("credentials.env");
    Files.deleteIfExists(file);
    Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING)) {
      out.write("export AWS_ACCESS_KEY_ID=" + root.accessKeyId() + "\n");
      out.write("export AWS_SECRET_ACCESS_KEY=" + root.secretAccessKey().withChars(String::new) + "\n");
      out.write("export AWS_DEFAULT_REGION=" + account.region() + "\n");
      out.write("export KEYHOLD_ENDPOINT=" + server.uri() + "\n");
      if (tls) {
        out.write("export AWS_CA_BUNDLE=" + home.resolve("tls-certificate.pem") + "\n");
      }
    }
    return file;
  }

  private static void printUsage(KeyholdServer server, Path environment) {
    System.out.println();
    System.out.println("Keyhold serves the AWS KMS API at " + server.uri());
    System.out.println("  health:  " + server.uri().resolve("/health") + "   metrics: " + server.uri().resolve("/metrics"));
    System.out.println("Call it with the AWS CLI:");
    System.out.println("  source " + environment);
    System.out.println("  aws kms create-key --endpoint-url $KEYHOLD_ENDPOINT --description demo");
    System.out.println("  aws kms encrypt --endpoint-url $KEYHOLD_ENDPOINT --key-id <KeyId> --plaintext fileb://<file>");
    System.out.println("Stop with Ctrl-C.");
  }

  public static void main(String[] args) {
    System.exit(run(args, System.err));
  }

  /**
   * Runs {@code bin/keyhold} with {@code args} and returns its exit code. A failure to start prints
   * one line to {@code err}, {@code keyhold: <what went wrong>}, never a stack trace: an operator reads
   * it, and the log above it says where it came from.
   */
  static int run(String[] args, PrintStream err) {
    return new CommandLine(new KeyholdCommand())
        .setExecutionExceptionHandler((exception, command, parsed) -> {
          err.println("keyhold: " + oneLine(exception));
          return 1;
        })
        .execute(args);
  }

  private static String oneLine(Throwable failure) {
    String message = failure.getMessage();
    if (message == null || failure instanceof IOException) { // an I/O message is often a bare path
      message = failure.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
    return message.replace('\n', ' ');
  }
}
