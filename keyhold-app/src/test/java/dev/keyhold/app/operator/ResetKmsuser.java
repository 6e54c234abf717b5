package dev.keyhold.app.operator;

import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.softhsm.ClusterId;
import dev.keyhold.softhsm.ClusterProvisioner;
import dev.keyhold.softhsm.SoftHsmClusterExtension;

/**
 * An HSM operator's reset of kmsuser's password on every HSM of a cluster with the SO PIN, in a
 * process of its own as the operator's tool would run (so that it reads the tokens as they are on
 * disk now). Arguments: the cluster id and its number of HSMs; the PINs come from
 * {@code KEYHOLD_SO_PIN} and {@code KEYHOLD_KMSUSER_PIN}, never from the command line.
 */
public final class ResetKmsuser {
  private ResetKmsuser() {}

  public static void main(String[] args) throws Exception {
    try (Pkcs11Module module = Pkcs11Module.load(SoftHsmClusterExtension.modulePath())) {
      new ClusterProvisioner(module).resetKmsuserPin(ClusterId.of(args[0]), Integer.parseInt(args[1]),
          Pin.fromEnvironment("KEYHOLD_SO_PIN"), Pin.fromEnvironment("KEYHOLD_KMSUSER_PIN"));
    }
  }
}
