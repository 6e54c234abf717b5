package dev.keyhold.softhsm;

import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableList;
import com.google.common.io.MoreFiles;
import com.google.common.io.RecursiveDeleteOption;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Gives a test class a fresh throwaway cluster of real SoftHSM2 tokens, and removes it afterwards.
 *
 * <pre>{@code
 * @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);
 * }</pre>
 *
 * <p>SoftHSM2 reads {@code SOFTHSM2_CONF} once per process, so the build runs every test class in a
 * JVM of its own with that variable pointing into {@code target/} (see the parent POM). This extension
 * writes that file afresh, pointing at a new temporary token directory. Without SoftHSM2 or the
 * variable it fails the class with a message saying what to do; it never skips.
 */
public final class SoftHsmClusterExtension implements BeforeAllCallback, AfterAllCallback {
  private static boolean usedInThisJvm;

  private final int hsms;
  private final SecureRandom random = new SecureRandom();
  private Path tokenDirectory;
  private Pkcs11Module module;
  private ClusterId clusterId;
  private Pin soPin;
  private Pin kmsuserPin;

  private SoftHsmClusterExtension(int hsms) {
    this.hsms = hsms;
  }

  public static SoftHsmClusterExtension withHsms(int hsms) {
    return new SoftHsmClusterExtension(hsms);
  }

  /** The SoftHSM2 library the tests drive: {@code -Dkeyhold.test.module}, else Debian's path. */
  public static Path modulePath() {
    return Path.of(System.getProperty("keyhold.test.module", "/usr/lib/softhsm/libsofthsm2.so"));
  }

  @Override
  public void beforeAll(ExtensionContext context) throws IOException {
    synchronized (SoftHsmClusterExtension.class) {
      checkState(!usedInThisJvm, "one SoftHSM2 cluster per JVM: run test classes in separate forks "
          + "(surefire reuseForks=false), as the parent POM does");
      usedInThisJvm = true;
    }
    if (!Files.isReadable(modulePath())) {
      throw new IllegalStateException("SoftHSM2 is not installed at " + modulePath()
          + ": run 'apt-get install softhsm2' (bin/test does it) or set -Dkeyhold.test.module");
    }
    String config = System.getenv(SoftHsmDirectory.CONFIG_VARIABLE);
    if (config == null) {
      throw new IllegalStateException(SoftHsmDirectory.CONFIG_VARIABLE
          + " is not set: run the tests through Maven (bin/test), which points it into target/");
    }
    Path configFile = Path.of(config).toAbsolutePath();
    Files.createDirectories(configFile.getParent());
    tokenDirectory = Files.createTempDirectory(configFile.getParent(), "tokens-");
    Files.writeString(configFile, "directories.tokendir = " + tokenDirectory + "\n"
        + "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");

    clusterId = ClusterId.random(random);
    soPin = Pin.random(random, 12);
    kmsuserPin = Pin.random(random, 12);
    module = Pkcs11Module.load(modulePath());
    new ClusterProvisioner(module).provision(clusterId, hsms, soPin, kmsuserPin);
  }

  @Override
  public void afterAll(ExtensionContext context) throws IOException {
    if (module != null) {
      module.close();
    }
    if (tokenDirectory != null) {
      MoreFiles.deleteRecursively(tokenDirectory, RecursiveDeleteOption.ALLOW_INSECURE);
    }
  }

  /** The loaded module; shared with every {@link Pkcs11Module#load} of the same path in this JVM. */
  public Pkcs11Module module() {
    return module;
  }

  public ClusterId clusterId() {
    return clusterId;
  }

  public ImmutableList<String> tokenLabels() {
    return clusterId.tokenLabels(hsms);
  }

  public Path tokenDirectory() {
    return tokenDirectory;
  }

  public Pin soPin() {
    return soPin;
  }

  public Pin kmsuserPin() {
    return kmsuserPin;
  }

  /** Logs in to HSM number {@code hsm} (from 1) as kmsuser, with {@code pool}. */
  public Token login(int hsm, SessionPoolConfig pool) {
    return Token.login(module, clusterId.tokenLabel(hsm), TokenProfile.SOFTHSM2, kmsuserPin, pool);
  }

  public Token login(int hsm) {
    return login(hsm, SessionPoolConfig.defaults());
  }
}
