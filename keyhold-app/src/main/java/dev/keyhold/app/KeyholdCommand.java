package dev.keyhold.app;

import dev.keyhold.kms.key.Account;
import dev.keyhold.server.KeyholdServer;
import dev.keyhold.server.ServerTls;
import dev.keyhold.server.auth.Credential;
import java.io.IOException;
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
 * until interrupted. Shutting down lets requests in flight finish.
 */
@Command(name = "keyhold", mixinStandardHelpOptions = true,
    description = "Serves the AWS KMS API over a local SoftHSM2 cluster (provisioned on the first run).")
public final class KeyholdCommand implements Callable<Integer> {
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
    Account account = new Account(accountId, region);
    Files.createDirectories(home);
    Optional<ServerTls> selfSigned = tls ? Optional.of(selfSignedTls()) : Optional.empty();
    UnaryOperator<KeyholdServer.Builder> listen = builder -> {
      builder.host(host).port(port);
      selfSigned.ifPresent(builder::tls);
      return builder;
    };
    try (LocalKeyhold keyhold = LocalKeyhold.start(home, softHsmLibrary, account, System.out, listen)) {
      KeyholdServer server = keyhold.server();
      Path environment = writeEnvironment(keyhold.root(), server, account);
      printUsage(server, environment);
      CountDownLatch stopped = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        server.close(); // graceful: requests in flight finish first
        stopped.countDown();
      }, "keyhold-shutdown"));
      stopped.await();
    }
    return 0;
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
    System.exit(new CommandLine(new KeyholdCommand()).execute(args));
  }
}
