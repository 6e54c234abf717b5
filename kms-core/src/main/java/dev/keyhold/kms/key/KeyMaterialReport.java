package dev.keyhold.kms.key;

import java.util.List;

/**
 * Where a key store's material stands, like CloudHSM's find-key-material procedure: KMS keys whose
 * material is missing on some HSM, and material on an HSM that no KMS key owns (an orphan, e.g. left
 * by a deletion while the HSM was unreachable), which the operator may remove.
 */
public record KeyMaterialReport(List<MissingMaterial> missing, List<Orphan> orphans) {
  public KeyMaterialReport {
    missing = List.copyOf(missing);
    orphans = List.copyOf(orphans);
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
