package dev.keyhold.softhsm;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SecurityOfficer;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Initialises the SoftHSM2 tokens that stand in for the HSMs of a cluster: one token per HSM, with
 * the SO PIN and the {@code kmsuser} PIN, then runs the cluster's trust ceremony
 * ({@link TrustCeremony}) so that every token holds the same trusted wrapping key. Running it again
 * never wipes a token: tokens whose label exists are left as they are, so a re-run only adds missing
 * HSMs, and the ceremony joins them to the cluster.
 */
public final class ClusterProvisioner {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterProvisioner.class);

  private final Pkcs11Module module;

  public ClusterProvisioner(Pkcs11Module module) {
    this.module = checkNotNull(module, "module");
  }

  /**
   * Makes sure HSMs 1 to {@code hsms} of {@code cluster} exist.
   *
   * @return the labels of the tokens initialised by this call (empty if all existed)
   */
  public ImmutableList<String> provision(ClusterId cluster, int hsms, Pin soPin, Pin kmsuserPin) {
    checkNotNull(cluster, "cluster");
    checkArgument(hsms >= 1 && hsms <= ClusterId.MAX_HSMS, "HSM count must be 1 to %s: %s", ClusterId.MAX_HSMS, hsms);
    checkNotNull(soPin, "soPin");
    checkNotNull(kmsuserPin, "kmsuserPin");
    Set<String> present = Set.copyOf(module.tokenLabels());
    ImmutableList.Builder<String> created = ImmutableList.builder();
    for (String label : cluster.tokenLabels(hsms)) {
      if (present.contains(label)) {
        LOG.info("token '{}' exists; left as it is", label);
        continue;
      }
      module.initializeToken(label, soPin, kmsuserPin);
      LOG.info("token '{}' initialised with its SO PIN and kmsuser PIN", label);
      created.add(label);
    }
    TrustCeremony.run(module, cluster.tokenLabels(hsms), soPin);
    return created.build();
  }

  /**
   * Sets the kmsuser PIN of HSMs 1 to {@code hsms} to {@code kmsuserPin} with the SO PIN, keeping their
   * keys: what an operator does before UpdateCustomKeyStore with a new KeyStorePassword, e.g. after an
   * HSM joined with a password the key store never rotated.
   */
  public void resetKmsuserPin(ClusterId cluster, int hsms, Pin soPin, Pin kmsuserPin) {
    checkNotNull(cluster, "cluster");
    checkNotNull(soPin, "soPin");
    checkNotNull(kmsuserPin, "kmsuserPin");
    for (String label : cluster.tokenLabels(hsms)) {
      try (SecurityOfficer officer = SecurityOfficer.login(module, label, soPin)) {
        officer.initUserPin(kmsuserPin);
      }
      LOG.info("kmsuser PIN of token '{}' reset", label);
    }
  }
}
