package dev.keyhold.softhsm;

import static com.google.common.base.Preconditions.checkNotNull;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * A directory that holds one SoftHSM2 environment: {@code softhsm2.conf} and the token directory
 * {@code tokens/} beside it. Every local cluster of a process lives here, one token per HSM.
 *
 * <p>SoftHSM2 reads the file named by {@code SOFTHSM2_CONF} once, at {@code C_Initialize}, and a
 * process holds one configuration. So the process that uses the tokens must be started with
 * {@code SOFTHSM2_CONF} pointing at {@link #configFile()}; {@code bin/provision-cluster} does that.
 */
public final class SoftHsmDirectory {
  public static final String CONFIG_VARIABLE = "SOFTHSM2_CONF";

  private final Path root;

  private SoftHsmDirectory(Path root) {
    this.root = root;
  }

  public static SoftHsmDirectory at(Path root) {
    return new SoftHsmDirectory(checkNotNull(root, "root").toAbsolutePath().normalize());
  }

  public Path root() {
    return root;
  }

  public Path configFile() {
    return root.resolve("softhsm2.conf");
  }

  public Path tokenDirectory() {
    return root.resolve("tokens");
  }

  /**
   * Writes {@code softhsm2.conf} and creates {@code tokens/} unless they exist; never touches tokens.
   *
   * @return whether the configuration was written now
   */
  public boolean create() {
    try {
      Files.createDirectories(root);
      if (!Files.isDirectory(tokenDirectory())) {
        // Token files hold wrapped keys and PIN verifiers: keep them to this user.
        Files.createDirectory(tokenDirectory(), PosixFilePermissions.asFileAttribute(
            PosixFilePermissions.fromString("rwx------")));
      }
      if (Files.exists(configFile())) {
        return false;
      }
      Files.writeString(configFile(), configText(), StandardCharsets.UTF_8);
      return true;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the SoftHSM2 directory " + root, e);
    }
  }

  /**
   * Fails unless this process was started with {@code SOFTHSM2_CONF} naming {@link #configFile()}:
   * otherwise SoftHSM2 would silently use another token directory.
   */
  public void checkActiveInThisProcess() {
    String active = System.getenv(CONFIG_VARIABLE);
    if (active == null || !Path.of(active).toAbsolutePath().normalize().equals(configFile())) {
      throw new IllegalStateException(CONFIG_VARIABLE + " must be " + configFile() + " in this process, but is "
          + (active == null ? "unset" : active) + "; start it through bin/provision-cluster or export the variable");
    }
  }

  private String configText() {
    return "# Written by Keyhold's softhsm-config. One token per HSM; labels are <cluster id>/hsm<n>.\n"
        + "directories.tokendir = " + tokenDirectory() + "\n"
        + "objectstore.backend = file\n"
        + "log.level = ERROR\n"
        + "slots.removable = false\n";
  }

  @Override
  public String toString() {
    return "SoftHsmDirectory[" + root + "]";
  }
}
