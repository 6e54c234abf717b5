package dev.keyhold.softhsm;

import dev.keyhold.cluster.Hsm;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bin/provision-cluster}: sets up the SoftHSM2 tokens of one local cluster in a directory, runs
 * the cluster's trust ceremony, and records the cluster, with its HSMs and trust anchor, in
 * {@code <dir>/clusters.json}. Idempotent: a second run with the same arguments changes nothing; a run
 * with more HSMs joins the new ones.
 */
@Command(name = "provision-cluster", mixinStandardHelpOptions = true,
    description = "Initialises one SoftHSM2 token per HSM of a local cluster, labelled <cluster-id>/hsm<n>, "
        + "and records the cluster in <dir>/clusters.json.")
public final class ProvisionCluster implements Callable<Integer> {
  @Option(names = "--dir", required = true, paramLabel = "DIR",
      description = "Directory of softhsm2.conf, tokens/ and clusters.json "
          + "(created if absent; never /var/lib/softhsm).")
  Path dir;

  @Option(names = "--cluster-id", required = true, paramLabel = "ID", description = "e.g. cluster-abcdefghijk")
  String clusterId;

  @Option(names = "--hsms", defaultValue = "2", paramLabel = "N", description = "Number of HSMs (default 2).")
  int hsms;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH",
      description = "SoftHSM2 PKCS#11 library (default ${DEFAULT-VALUE}).")
  Path modulePath;

  @Option(names = "--from-backup-of", paramLabel = "ID",
      description = "Create the cluster as if restored from a backup of this cluster in clusters.json: "
          + "it shares that cluster's trust anchor certificate (its backup history).")
  String fromBackupOf;

  @Option(names = "--reset-kmsuser-pin",
      description = "Also set kmsuser's PIN on every HSM of the cluster to the kmsuser PIN given, keeping "
          + "their keys; then give the same password to UpdateCustomKeyStore (needed after an HSM joined a "
          + "cluster whose key store rotated the password).")
  boolean resetKmsuserPin;

  @Mixin PinOptions pins;

  @Override
  public Integer call() throws Exception {
    ClusterId cluster = ClusterId.of(clusterId);
    Optional<ClusterId> source = Optional.ofNullable(fromBackupOf).map(ClusterId::of);
    SoftHsmDirectory directory = SoftHsmDirectory.at(dir);
    if (directory.create()) {
      System.out.println("wrote " + directory.configFile());
    }
    directory.checkActiveInThisProcess();
    Pin soPin = pins.soPin();
    Pin kmsuserPin = pins.kmsuserPin();
    Path clustersFile = directory.root().resolve(LocalClusterProvisioner.CLUSTERS_FILE);
    try (Pkcs11Module module = Pkcs11Module.load(modulePath)) {
      LocalClusterProvisioner.Outcome outcome =
          new LocalClusterProvisioner(module, clustersFile).provision(cluster, hsms, source, soPin, kmsuserPin);
      for (String label : cluster.tokenLabels(hsms)) {
        System.out.println((outcome.initialisedTokens().contains(label) ? "initialised " : "exists      ") + label);
      }
      System.out.println("trust ceremony: every HSM holds the cluster's trusted wrapping key");
      if (resetKmsuserPin) {
        new ClusterProvisioner(module).resetKmsuserPin(cluster, hsms, soPin, kmsuserPin);
        System.out.println("kmsuser PIN reset on " + hsms + " HSM(s)");
      }
      String trustAnchor =
          outcome.trustAnchorIssued() ? "issued" : source.map(id -> "shared with " + id).orElse("kept");
      System.out.println("trust anchor " + trustAnchor + ": " + outcome.cluster().trustAnchor());
      System.out.println("wrote " + clustersFile + " (" + cluster + ": "
          + outcome.cluster().hsms().stream().map(Hsm::hsmId).collect(Collectors.joining(", ")) + ")");
    }
    return 0;
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new ProvisionCluster()).execute(args));
  }
}
