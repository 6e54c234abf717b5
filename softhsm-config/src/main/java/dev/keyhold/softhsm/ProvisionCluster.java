package dev.keyhold.softhsm;

import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bin/provision-cluster}: sets up the SoftHSM2 tokens of one local cluster in a directory.
 * Idempotent: a second run with the same arguments changes nothing.
 */
@Command(name = "provision-cluster", mixinStandardHelpOptions = true,
    description = "Initialises one SoftHSM2 token per HSM of a local cluster, labelled <cluster-id>/hsm<n>.")
public final class ProvisionCluster implements Callable<Integer> {
  @Option(names = "--dir", required = true, paramLabel = "DIR",
      description = "Directory of softhsm2.conf and tokens/ (created if absent; never /var/lib/softhsm).")
  Path dir;

  @Option(names = "--cluster-id", required = true, paramLabel = "ID", description = "e.g. cluster-abcdefghijk")
  String clusterId;

  @Option(names = "--hsms", defaultValue = "2", paramLabel = "N", description = "Number of HSMs (default 2).")
  int hsms;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path modulePath;

  @Mixin PinOptions pins;

  @Override
  public Integer call() throws Exception {
    ClusterId cluster = ClusterId.of(clusterId);
    SoftHsmDirectory directory = SoftHsmDirectory.at(dir);
    if (directory.create()) {
      System.out.println("wrote " + directory.configFile());
    }
    directory.checkActiveInThisProcess();
    Pin soPin = pins.soPin();
    Pin kmsuserPin = pins.kmsuserPin();
    try (Pkcs11Module module = Pkcs11Module.load(modulePath)) {
      List<String> created = new ClusterProvisioner(module).provision(cluster, hsms, soPin, kmsuserPin);
      for (String label : cluster.tokenLabels(hsms)) {
        System.out.println((created.contains(label) ? "initialised " : "exists      ") + label);
      }
    }
    return 0;
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new ProvisionCluster()).execute(args));
  }
}
