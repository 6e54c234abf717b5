package dev.keyhold.server;

import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableList;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.keystore.ConnectionState;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.metadata.JdbcMetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.postgres.ThrowawayPostgres;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.CredentialStore;
import dev.keyhold.server.auth.Credentials;
import dev.keyhold.server.auth.MetadataCredentials;
import dev.keyhold.server.auth.SigV4Authenticator;
import dev.keyhold.server.ops.RequestObserver;
import dev.keyhold.server.ops.RequestOutcome;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.LocalClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.net.URI;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.KmsClientBuilder;

/**
 * A whole Keyhold from real parts, as the tests of the HTTP layer drive it: SoftHSM2 clusters
 * provisioned in the test class's token directory, an H2 metadata store and a master key in a data
 * directory, a key store connected and made the default one, credentials sealed in a credentials
 * file (on PostgreSQL: in the database, as in operator mode), SigV4 and key policies enforced, and the server on a free port of 127.0.0.1. Clients are the
 * AWS SDK's own {@link KmsClient}.
 *
 * <p>Its callers: {@link #admin} (the account root, allowed everything its account may), {@link #alice} (a
 * user of the account) and {@link #mallory} (a user of another account, whom no default key policy
 * trusts). The key policies' account principals delegate to identity policies, as in AWS; alice's and
 * mallory's own ({@link #USES_KMS}) allow them every action but the custom key store operations, so
 * the key policies decide. {@link #newCaller} adds a caller without one.
 */
final class TestKeyhold implements AutoCloseable {
  static final Account ACCOUNT = new Account("111122223333", "us-east-1");
  /** The identity policy of alice and mallory: every action on any resource, but the custom key store operations. */
  static final String USES_KMS = """
      {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "NotAction": "kms:*CustomKeyStore*", "Resource": "*"}]}""";

  final Credential admin;
  final Credential alice;
  final Credential mallory;
  final String storeId;
  /** The cluster of the default key store. */
  final Cluster cluster;
  /** Clusters provisioned for the test, each with two HSMs, that no key store uses yet. */
  final ImmutableList<Cluster> spareClusters;
  final KeyholdServer server;
  /** Every request the server answered, in order. */
  final List<RequestOutcome> outcomes = new CopyOnWriteArrayList<>();
  private final SoftHsmClusterExtension softhsm;
  private final JdbcMetadataStore metadata;
  private final Keyhold keyhold;
  private final SigV4Authenticator authenticator;
  private final Consumer<Credential> credentials;

  private TestKeyhold(SoftHsmClusterExtension softhsm, Path data, int spareClusters,
      UnaryOperator<KeyholdServer.Builder> configuration) throws InterruptedException {
    this(softhsm, data, spareClusters, configuration, Optional.empty(), SessionPoolConfig.of(8, Duration.ofSeconds(5)));
  }

  private TestKeyhold(SoftHsmClusterExtension softhsm, Path data, int spareClusters,
      UnaryOperator<KeyholdServer.Builder> configuration, Optional<Path> module, SessionPoolConfig sessions)
      throws InterruptedException {
    this.softhsm = softhsm;
    SecureRandom random = new SecureRandom();
    LocalClusterProvisioner provisioner =
        new LocalClusterProvisioner(softhsm.module(), data.resolve(LocalClusterProvisioner.CLUSTERS_FILE));
    ImmutableList.Builder<Cluster> clusters = ImmutableList.builder();
    for (int i = 0; i <= spareClusters; i++) {
      clusters.add(provisioner.provision(ClusterId.random(random), 2, Optional.empty(), softhsm.soPin(),
          softhsm.kmsuserPin()).cluster());
    }
    ImmutableList<Cluster> provisioned = clusters.build();
    Cluster main = provisioned.get(0);
    this.cluster = module.map(library -> Cluster.of(main.clusterId(), main.hsms().stream()
        .map(hsm -> Hsm.of(hsm.hsmId(), library, hsm.tokenLabel(), hsm.profile(), hsm.state())).toList(),
        main.trustAnchor())).orElse(main);
    ImmutableList<Cluster> all = ImmutableList.<Cluster>builder().add(cluster)
        .addAll(provisioned.subList(1, provisioned.size())).build();
    this.spareClusters = all.subList(1, all.size());
    ClusterRegistry registry = ClusterRegistry.of(all);

    // On a real PostgreSQL when the build runs the server's tests there (the on-postgresql execution),
    // with the credentials in the database, as a node in operator mode keeps them.
    boolean onPostgresql = "postgresql".equals(System.getProperty("keyhold.test.metadata"));
    metadata = onPostgresql
        ? JdbcMetadataStore.open(ThrowawayPostgres.forThisJvm().newDatabase(), ThrowawayPostgres.USER, "")
        : JdbcMetadataStore.embedded(data);
    MasterKey masterKey = MasterKey.loadOrCreate(data.resolve("master.key"));
    keyhold = Keyhold.open(metadata, registry, masterKey, Keyhold.Options.of(ACCOUNT)
        .withSessions(sessions).withDefaultKeyStore("default"));
    CustomKeyStores keyStores = keyhold.keyStores();
    storeId = keyStores.createCustomKeyStore(new CreateCustomKeyStoreRequest(
        "default", all.get(0).clusterId(), all.get(0).trustAnchor().pem(), softhsm.kmsuserPin(), null));
    keyStores.connectCustomKeyStore(storeId);
    checkState(keyStores.awaitConnected(storeId, Duration.ofSeconds(30)).connectionState() == ConnectionState.CONNECTED,
        "key store %s did not connect", storeId);

    Credentials lookup;
    if (onPostgresql) {
      MetadataCredentials inDatabase = new MetadataCredentials(metadata, masterKey, Clock.systemUTC());
      lookup = inDatabase;
      credentials = inDatabase::create;
    } else {
      CredentialStore inFile = CredentialStore.load(data.resolve("credentials.json"), masterKey);
      lookup = inFile;
      credentials = inFile::add;
    }
    admin = newCaller("arn:aws:iam::111122223333:root");
    alice = newCaller("arn:aws:iam::111122223333:user/alice");
    mallory = newCaller("arn:aws:iam::444455556666:user/mallory");
    putIdentityPolicy(alice, "UsesKms", USES_KMS);
    putIdentityPolicy(mallory, "UsesKms", USES_KMS);
    authenticator = new SigV4Authenticator(lookup, ACCOUNT.region(), Clock.systemUTC());
    server = serve(configuration);
  }

  /** Two-HSM clusters: one behind the default key store, and {@code spareClusters} more. */
  static TestKeyhold start(SoftHsmClusterExtension softhsm, Path data, int spareClusters) throws InterruptedException {
    return new TestKeyhold(softhsm, data, spareClusters, UnaryOperator.identity());
  }

  /** As {@link #start}, without spare clusters, with every HSM reached through {@code module} and {@code sessions}. */
  static TestKeyhold startThrough(SoftHsmClusterExtension softhsm, Path data, Path module, SessionPoolConfig sessions)
      throws InterruptedException {
    return new TestKeyhold(softhsm, data, 0, UnaryOperator.identity(), Optional.of(module), sessions);
  }

  /** As {@link #start}, with the server configured further. */
  static TestKeyhold start(SoftHsmClusterExtension softhsm, Path data,
      UnaryOperator<KeyholdServer.Builder> configuration) throws InterruptedException {
    return new TestKeyhold(softhsm, data, 0, configuration);
  }

  /**
   * A server of this Keyhold as {@code configuration} sets it up, every answer in {@link #outcomes};
   * its caller closes it. The test's {@link #server} is one.
   */
  KeyholdServer serve(UnaryOperator<KeyholdServer.Builder> configuration) {
    RequestObserver recorder = outcomes::add;
    return configuration.apply(KeyholdServer.builder(keyhold, authenticator).observer(recorder)).start();
  }

  URI endpoint() {
    return server.uri();
  }

  /** A KmsClient that signs as {@code caller}, without retries (a test wants the first answer). */
  KmsClient client(Credential caller) {
    return client(caller, UrlConnectionHttpClient.builder().build());
  }

  KmsClient client(Credential caller, SdkHttpClient http) {
    return clientOf(caller, server.uri(), http)
        .overrideConfiguration(override -> override.retryStrategy(AwsRetryStrategy.doNotRetry()))
        .build();
  }

  /** A client of {@code endpoint} that signs as {@code caller}, with the SDK's default retries unless set. */
  static KmsClientBuilder clientOf(Credential caller, URI endpoint, SdkHttpClient http) {
    return KmsClient.builder()
        .endpointOverride(endpoint)
        .region(Region.of(ACCOUNT.region()))
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
            caller.accessKeyId(), caller.secretAccessKey().withChars(String::new))))
        .httpClient(http);
  }

  /** The kmsuser password of every provisioned HSM. */
  String kmsuserPassword() {
    return softhsm.kmsuserPin().withChars(String::new);
  }

  /** Runs one pass of the reconciler, for the cluster health {@code /health} reports. */
  void checkClusterHealth() {
    keyhold.replication().runOnce();
  }

  @Override
  public void close() {
    server.close();
    keyhold.close();
    metadata.close();
  }

  /** A new access key of {@code principalArn}, honoured at once; its principal keeps its identity policies, if any. */
  Credential newCaller(String principalArn) {
    Credential credential = Credential.generate(principalArn, new SecureRandom());
    credentials.accept(credential);
    return credential;
  }

  /** Attaches an identity policy to {@code caller}'s principal, as {@code bin/keyhold credentials put-policy}. */
  void putIdentityPolicy(Credential caller, String policyName, String document) {
    keyhold.identityPolicies().put(caller.principalArn(), policyName, document);
  }
}
