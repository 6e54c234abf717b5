package dev.keyhold.kms.key;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Where a key store's material stands, like CloudHSM's find-key-material procedure: KMS keys whose
 * material is missing on some HSM (the reconciler copies it in), the KMS keys among them whose
 * material no listed HSM holds (a record without material: nothing can copy it in), material on an HSM that no KMS key
 * owns (an orphan: the reconciler removes what a deletion left on an unreachable HSM; the rest is the
 * operator's call), and the HSMs that could not be listed at all.
 */
public record KeyMaterialReport(List<MissingMaterial> missing, List<String> keysWithoutMaterial, List<Orphan> orphans,
    List<String> unreachableHsmIds) {
  public KeyMaterialReport {
    missing = List.copyOf(missing);
    keysWithoutMaterial = List.copyOf(keysWithoutMaterial);
    orphans = List.copyOf(orphans);
    unreachableHsmIds = List.copyOf(unreachableHsmIds);
  }

  /**
   * The report of a store whose KMS keys are {@code owned}, whose HSMs hold the labels
   * {@code labelsByHsm} (the HSMs that could be listed), of which material labelled with a key ARN
   * that starts with {@code keyArnPrefix} belongs to KMS keys. A key still {@link KeyState#Creating}
   * has a record before its material, and is not reported.
   */
  static KeyMaterialReport of(List<KeyRecord> owned, Map<String, Set<String>> labelsByHsm, List<String> unreachable,
      String keyArnPrefix) {
    List<MissingMaterial> missing = new ArrayList<>();
    for (KeyRecord key : owned) {
      List<String> lacking = labelsByHsm.entrySet().stream()
          .filter(entry -> !entry.getValue().contains(key.arn())).map(Map.Entry::getKey).toList();
      if (!lacking.isEmpty() && key.state() != KeyState.Creating) {
        missing.add(new MissingMaterial(key.keyId(), key.arn(), lacking));
      }
    }
    Set<String> ownedArns = owned.stream().map(KeyRecord::arn).collect(Collectors.toSet());
    List<Orphan> orphans = new ArrayList<>();
    labelsByHsm.forEach((hsmId, labels) -> labels.stream().sorted()
        .filter(label -> label.startsWith(keyArnPrefix) && !ownedArns.contains(label))
        .forEach(label -> orphans.add(new Orphan(hsmId, label))));
    List<String> nowhere = missing.stream().filter(key -> key.hsmIds().size() == labelsByHsm.size())
        .map(MissingMaterial::arn).toList();
    return new KeyMaterialReport(missing, nowhere, orphans, unreachable);
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
