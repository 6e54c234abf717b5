package dev.keyhold.bench;

import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.ClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmDirectory;
import java.nio.file.Path;
import java.security.SecureRandom;

/**
 * A one-HSM SoftHSM2 cluster provisioned for one benchmark process, in the directory that
 * {@code SOFTHSM2_CONF} names, so that no run shares a token's state with another.
 *
 * @param label the token's label
 * @param kmsuserPin its user's PIN
 */
record ThrowawayToken(Pkcs11Module module, String label, Pin kmsuserPin) {
  /**
   * Provisions one on the PKCS#11 library at {@code modulePath}.
   *
   * @param launcher what sets {@code SOFTHSM2_CONF}, for the message when nothing did
   */
  static ThrowawayToken provision(Path modulePath, String launcher) {
    String config = System.getenv(SoftHsmDirectory.CONFIG_VARIABLE);
    if (config == null) {
      throw new IllegalStateException(SoftHsmDirectory.CONFIG_VARIABLE + " is not set: run it through " + launcher);
    }
    SoftHsmDirectory directory = SoftHsmDirectory.at(Path.of(config).toAbsolutePath().getParent());
    directory.create();
    directory.checkActiveInThisProcess();
    SecureRandom random = new SecureRandom();
    ClusterId cluster = ClusterId.random(random);
    Pin kmsuserPin = Pin.random(random, 16);
    Pkcs11Module module = Pkcs11Module.load(modulePath);
    new ClusterProvisioner(module).provision(cluster, 1, Pin.random(random, 16), kmsuserPin);
    return new ThrowawayToken(module, cluster.tokenLabel(1), kmsuserPin);
  }
}
