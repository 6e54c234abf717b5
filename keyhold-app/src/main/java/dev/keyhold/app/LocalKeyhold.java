package dev.keyhold.app;

import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.KeyholdServer;
import dev.keyhold.server.auth.Credential;
import dev.keyhold.server.auth.CredentialStore;
import dev.keyhold.server.auth.SigV4Authenticator;
import dev.keyhold.server.ops.AuditLog;
import dev.keyhold.server.quota.QuotaConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.function.UnaryOperator;

/**
 * The embedded default service, serving: {@link LocalBackend} behind {@link KeyholdServer}, requests
 * SigV4-checked against the credentials in the home, key policies enforced, every request in
 * {@code audit.log}. {@code bin/keyhold} runs it; the benchmarks run it in their own JVM.
 */
public final class LocalKeyhold implements AutoCloseable {
  /** The audit log, in the home. */
  public static final String AUDIT_LOG = "audit.log";

  private final LocalBackend local;
  private final AuditLog audit;
  private final KeyholdServer server;
  private final CredentialStore credentials;
  private final Credential root;

  private LocalKeyhold(LocalBackend local, AuditLog audit, KeyholdServer server, CredentialStore credentials,
      Credential root) {
    this.local = local;
    this.audit = audit;
    this.server = server;
    this.credentials = credentials;
    this.root = root;
  }

  /**
   * Opens (and on the first run provisions) the Keyhold in {@code home}, telling {@code progress} what
   * it does, and serves it on the address and TLS that {@code listen} sets on the builder; whatever
   * else {@code listen} sets (quotas, say) overrides the defaults here.
   * SoftHSM2 reads {@code SOFTHSM2_CONF} once per process: it must name {@code home/softhsm/softhsm2.conf}.
   */
  public static LocalKeyhold start(Path home, Path softHsmLibrary, Account account, PrintStream progress,
      UnaryOperator<KeyholdServer.Builder> listen) throws IOException, InterruptedException {
    LocalBackend local = LocalBackend.open(home, softHsmLibrary, account, progress);
    AuditLog audit = null;
    try {
      MasterKey masterKey = MasterKey.loadOrCreate(home.resolve(LocalBackend.MASTER_KEY));
      audit = AuditLog.toFile(home.resolve(AUDIT_LOG), masterKey);
      CredentialStore credentials = CredentialStore.load(home.resolve("credentials.json"), masterKey);
      Credential root = rootCredential(credentials, account);
      // No quotas: one machine serves far fewer requests than AWS's quotas admit, and the benchmarks
      // that run this must measure the server, not a throttle.
      KeyholdServer server = listen.apply(KeyholdServer.builder(local.keyhold(),
              new SigV4Authenticator(credentials, account.region(), Clock.systemUTC()))
          .quotas(QuotaConfig.unlimited())
          .observer(audit))
          .start();
      return new LocalKeyhold(local, audit, server, credentials, root);
    } catch (IOException | RuntimeException e) {
      if (audit != null) {
        audit.close();
      }
      local.close();
      throw e;
    }
  }

  /** The account root's credential, made on the first run: allowed everything its account may, every key by its default policy. */
  private static Credential rootCredential(CredentialStore credentials, Account account) throws IOException {
    String rootArn = "arn:aws:iam::" + account.accountId() + ":root";
    for (Credential credential : credentials.credentials()) {
      if (credential.principalArn().equals(rootArn)) {
        return credential;
      }
    }
    Credential root = Credential.generate(rootArn, new SecureRandom());
    credentials.add(root);
    return root;
  }

  public Keyhold keyhold() {
    return local.keyhold();
  }

  public KeyholdServer server() {
    return server;
  }

  /** The access keys requests are checked against; one {@linkplain CredentialStore#add added} is honoured at once. */
  public CredentialStore credentials() {
    return credentials;
  }

  /** The account root's credential, for the user to call with. */
  public Credential root() {
    return root;
  }

  /** Stops serving (requests in flight finish first), then closes the audit log and the backend. */
  @Override
  public void close() {
    try (LocalBackend backend = local; AuditLog log = audit) {
      server.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close the audit log", e);
    }
  }
}
