package dev.keyhold.app.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.Cluster;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.policy.IdentityPolicies;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.postgres.ThrowawayPostgres;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.MetadataCredentials;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.ConnectionStateType;

/**
 * A service in operator mode for tests, as an operator sets one up: a 2-HSM cluster and its clusters
 * file, a master key, a real PostgreSQL database, an administrator's credential, and nodes, each a
 * process of its own started from docs/examples/node.yaml.
 */
public final class OperatorSite implements AutoCloseable {
  private static final Path EXAMPLE = Path.of("..", "docs", "examples", "node.yaml");
  private static final Pattern SERVING = Pattern.compile("serves the AWS KMS API at (\\S+)");

  final Cluster cluster;
  final Credential admin;
  /** The JDBC URL of the site's database, which every node started by {@link #start(String)} uses. */
  final String database;
  final Path masterKeyFile;
  private final SoftHsmClusterExtension softhsm;
  private final Map<String, String> environment;
  private final List<Node> nodes = new ArrayList<>();

  OperatorSite(SoftHsmClusterExtension softhsm, Path work) throws IOException {
    this.softhsm = softhsm;
    Path configDir = Files.createDirectories(work.resolve("etc"));
    cluster = new LocalClusterProvisioner(softhsm.module(), configDir.resolve("clusters.json"))
        .provision(ClusterId.random(new SecureRandom()), 2, Optional.empty(), softhsm.soPin(), softhsm.kmsuserPin())
        .cluster();
    masterKeyFile = configDir.resolve("master.key");
    MasterKey masterKey = MasterKey.loadOrCreate(masterKeyFile);
    Path secrets = Files.createDirectories(work.resolve("secrets"));
    Files.writeString(secrets.resolve("db-password"), "unused\n");
    database = ThrowawayPostgres.forThisJvm().newDatabase();
    environment = Map.of("KEYHOLD_PORT", "0", "KEYHOLD_CONFIG_DIR", configDir.toString(), "KEYHOLD_DB_URL", database,
        "KEYHOLD_SECRETS_DIR", secrets.toString(),
        "KEYHOLD_LOG_DIR", Files.createDirectories(work.resolve("log")).toString());
    admin = Credential.generate("arn:aws:iam::111122223333:root", new SecureRandom());
    try (JdbcMetadataStore metadata = JdbcMetadataStore.open(database, ThrowawayPostgres.USER, "")) {
      new MetadataCredentials(metadata, masterKey, Clock.systemUTC()).create(admin);
    }
  }

  /**
   * A new access key of {@code principalArn} in the site's database, as {@code bin/keyhold credentials
   * create} makes one; every node honours it at once.
   */
  Credential newCredential(String principalArn) {
    Credential credential = Credential.generate(principalArn, new SecureRandom());
    try (JdbcMetadataStore metadata = JdbcMetadataStore.open(database, ThrowawayPostgres.USER, "")) {
      new MetadataCredentials(metadata, MasterKey.load(masterKeyFile), Clock.systemUTC()).create(credential);
    }
    return credential;
  }

  /** Attaches an identity policy to {@code principalArn}, as {@code bin/keyhold credentials put-policy}. */
  void putIdentityPolicy(String principalArn, String policyName, String document) {
    try (JdbcMetadataStore metadata = JdbcMetadataStore.open(database, ThrowawayPostgres.USER, "")) {
      new IdentityPolicies(metadata).put(principalArn, policyName, document);
    }
  }

  /** Starts the node {@code name} and waits until it serves. */
  Node start(String name) throws IOException, InterruptedException {
    return startOn(database, name);
  }

  /** Starts the node {@code name} with its metadata in the database of {@code databaseUrl}, and waits until it serves. */
  Node startOn(String databaseUrl, String name) throws IOException, InterruptedException {
    Map<String, String> node = environmentOf(name);
    node.put("KEYHOLD_DB_URL", databaseUrl);
    return started(start(name, List.of("dev.keyhold.app.KeyholdCommand", "--config", EXAMPLE.toString()), node,
        Region.EU_WEST_1, admin));
  }

  /** Starts the node {@code name}, which stops for good when a connect reaches {@code step} ({@link PausingNode}). */
  Node startPausingAt(String step, String name) throws IOException, InterruptedException {
    return started(start(name, List.of(PausingNode.class.getName(), EXAMPLE.toString(), step),
        environmentOf(name), Region.EU_WEST_1, admin));
  }

  /** The configuration of the node {@code name}, as it reads docs/examples/node.yaml. */
  NodeConfig config(String name) {
    return ConfigFile.read(EXAMPLE, environmentOf(name)::get).orElseThrow();
  }

  /**
   * Starts {@code main} with {@code arguments} in a JVM of its own, with the environment of the node
   * {@code name} and the example configuration as its first argument; its output is merged.
   */
  Process launch(String name, Class<?> main, String... arguments) throws IOException {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), main.getName(), EXAMPLE.toString()));
    command.addAll(List.of(arguments));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(environmentOf(name));
    return builder.start();
  }

  private Map<String, String> environmentOf(String name) {
    Map<String, String> node = new HashMap<>(environment);
    node.put("KEYHOLD_NODE", name);
    return node;
  }

  private Node started(Node node) {
    nodes.add(node);
    return node;
  }

  /**
   * Starts {@code bin/keyhold --config config} in a JVM of its own with {@code environment} added to
   * this one's, and waits until it serves; its clients sign as {@code admin}, in {@code region}.
   */
  public static Node start(String name, Path config, Map<String, String> environment, Region region,
      Credential admin)
      throws IOException, InterruptedException {
    return start(name, List.of("dev.keyhold.app.KeyholdCommand", "--config", config.toString()), environment,
        region, admin);
  }

  private static Node start(String name, List<String> mainAndArguments, Map<String, String> environment,
      Region region, Credential admin) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path")));
    command.addAll(mainAndArguments);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(environment);
    Process process = builder.start();
    BufferedReader output = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    StringBuilder seen = new StringBuilder();
    for (String line = output.readLine(); line != null; line = output.readLine()) {
      seen.append(line).append('\n');
      Matcher serving = SERVING.matcher(line);
      if (serving.find()) {
        List<String> later = new CopyOnWriteArrayList<>();
        Thread drain = new Thread(() -> {
          try {
            output.lines().forEach(later::add);
          } catch (UncheckedIOException e) {
            // the node was killed: its output ends here
          }
        }, name + "-output");
        drain.setDaemon(true);
        drain.start();
        return new Node(name, process, URI.create(serving.group(1)), region, admin, later);
      }
    }
    process.waitFor(10, TimeUnit.SECONDS);
    throw new AssertionError(name + " did not start:\n" + seen);
  }

  /** Creates the key store "main" over the cluster on {@code node}, connects it, and waits until it is CONNECTED. */
  String connectMainStore(Node node) throws InterruptedException {
    KmsClient client = node.client();
    String store = client.createCustomKeyStore(r -> r.customKeyStoreName("main").cloudHsmClusterId(cluster.clusterId())
        .trustAnchorCertificate(cluster.trustAnchor().pem())
        .keyStorePassword(softhsm.kmsuserPin().withChars(String::valueOf))).customKeyStoreId();
    client.connectCustomKeyStore(r -> r.customKeyStoreId(store));
    awaitWithin(Duration.ofSeconds(60), () -> client.describeCustomKeyStores(r -> r.customKeyStoreId(store))
        .customKeyStores().get(0).connectionState() == ConnectionStateType.CONNECTED);
    return store;
  }

  /**
   * Stops every node, then prints what each logged at WARN and above: all there is to go on when a
   * test on this site failed in CI.
   */
  @Override
  public void close() {
    nodes.forEach(Node::stop);
    for (Node node : nodes) {
      String logged = node.loggedWarnings();
      if (!logged.isEmpty()) {
        System.out.println(node.name() + " logged:\n" + logged);
      }
    }
  }

  /**
   * Writes {@code file}: the node {@code node}, listening on a free port of 127.0.0.1, in us-east-1,
   * with its metadata in a new database of this JVM's PostgreSQL.
   */
  public static Path writeConfig(Path file, String node, Path clusters, Path masterKey, Path auditLog)
      throws IOException {
    return Files.writeString(file, """
        node: %s
        listen:
          host: 127.0.0.1
          port: 0
        account:
          id: "111122223333"
          region: us-east-1
        clusters: %s
        metadata:
          jdbc:
            url: %s
            user: %s
            password: unused
        masterKey: %s
        auditLog: %s
        """.formatted(node, clusters, ThrowawayPostgres.forThisJvm().newDatabase(), ThrowawayPostgres.USER, masterKey,
        auditLog));
  }

  static void awaitWithin(Duration bound, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("within %s", bound).isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  /** One node: {@code bin/keyhold --config docs/examples/node.yaml} in a JVM of its own. */
  public record Node(String name, Process process, URI uri, Region region, Credential admin, List<String> output) {
    /** A client that signs as the administrator and never retries. */
    public KmsClient client() {
      return clientAs(admin);
    }

    /** A client that signs as {@code caller} and never retries. */
    public KmsClient clientAs(Credential caller) {
      return KmsClient.builder()
          .endpointOverride(uri)
          .region(region)
          .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
              caller.accessKeyId(), caller.secretAccessKey().withChars(String::valueOf))))
          .httpClient(UrlConnectionHttpClient.builder().build())
          .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
          .build();
    }

    /** The body of {@code /health}. */
    String health() throws IOException, InterruptedException {
      return HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri.resolve("/health")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
    }

    /** Whether the node has printed a line that contains {@code text} since it started serving. */
    boolean printed(String text) {
      return output.stream().anyMatch(line -> line.contains(text));
    }

    /** The errors the node has logged since it started serving, with their causes: for a failure's message. */
    String loggedErrors() {
      return logged(" ERROR ");
    }

    /** The warnings and errors the node has logged since it started serving, with their causes. */
    String loggedWarnings() {
      return logged(" WARN ", " ERROR ");
    }

    private String logged(String... levels) {
      return output.stream()
          .filter(line -> line.startsWith("Caused by:") || Arrays.stream(levels).anyMatch(line::contains))
          .collect(Collectors.joining("\n"));
    }

    /** {@code kill -9}. */
    void kill() throws InterruptedException {
      process.destroyForcibly();
      process.waitFor(30, TimeUnit.SECONDS);
    }

    public void stop() {
      process.destroy();
      try {
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
      }
    }
  }
}
