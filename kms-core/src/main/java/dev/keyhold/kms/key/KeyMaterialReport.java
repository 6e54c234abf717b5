package dev.keyhold.kms.key;

import java.util.List;

/**
 * Where a key store's material stands, like CloudHSM's find-key-material procedure: KMS keys whose
 * material is missing on some HSM (the reconciler copies it in), material on an HSM that no KMS key
 * owns (an orphan: the reconciler removes what a deletion left on an unreachable HSM; the rest is the
 * operator's call), and the HSMs that could not be listed at all.
 */
public record KeyMaterialReport(List<MissingMaterial> missing, List<Orphan> orphans, List<String> unreachableHsmIds) {
  public KeyMaterialReport {
    missing = List.copyOf(missing);
    orphans = List.copyOf(orphans);
    unreachableHsmIds = List.copyOf(unreachableHsmIds);
  }

  /** A KMS key and the HSMs that lack its material. */
  public record MissingMaterial(String keyId, String arn, List<String> hsmIds) {
    public MissingMaterial {
      hsmIds = List.copyOf(hsmIds);
    }
  }

  /** Key material on an HSM, by label, that no KMS key of the store owns. */
  public record Orphan(String hsmId, String label) {}
}
