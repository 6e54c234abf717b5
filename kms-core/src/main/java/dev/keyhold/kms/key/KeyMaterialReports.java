package dev.keyhold.kms.key;

import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.Pkcs11Exception;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/** The key material report of a key store: what its HSMs hold against what its KMS keys need. */
public final class KeyMaterialReports {
  private final MetadataStore metadata;
  private final CustomKeyStores keyStores;
  private final Account account;

  KeyMaterialReports(MetadataStore metadata, CustomKeyStores keyStores, Account account) {
    this.metadata = metadata;
    this.keyStores = keyStores;
    this.account = account;
  }

  /**
   * The key material report of a CONNECTED store: material missing per HSM for each of its KMS keys,
   * and material on its HSMs labelled as a key of this account that no KMS key owns.
   */
  public KeyMaterialReport keyMaterialReport(String customKeyStoreId) {
    ConnectedStore logins = keyStores.connected(customKeyStoreId);
    List<KeyRecord> owned = metadata.inTransaction(KeyTable::all).stream()
        .filter(key -> key.keyStoreId().equals(customKeyStoreId)).toList();
    Map<String, Set<String>> labelsByHsm = new LinkedHashMap<>();
    List<String> unreachable = new ArrayList<>();
    logins.tokens().forEach((hsmId, token) -> {
      try {
        labelsByHsm.put(hsmId, token.listAesKeys().stream().map(AesKey::label).collect(Collectors.toSet()));
      } catch (Pkcs11Exception e) {
        unreachable.add(hsmId);
      }
    });
    return KeyMaterialReport.of(owned, labelsByHsm, unreachable, account.keyArn(""));
  }
}
