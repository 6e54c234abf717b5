package dev.keyhold.kms.keystore;

import java.time.Instant;
import java.util.Optional;

/** One key store as DescribeCustomKeyStores shows it (no password, ever). */
public record CustomKeyStoresListEntry(
    String customKeyStoreId,
    String customKeyStoreName,
    String cloudHsmClusterId,
    String trustAnchorCertificate,
    ConnectionState connectionState,
    Optional<ConnectionErrorCode> connectionErrorCode,
    Instant creationDate,
    String customKeyStoreType) {

  static CustomKeyStoresListEntry of(KeyStoreRecord store) {
    return new CustomKeyStoresListEntry(store.id, store.name, store.clusterId, store.trustAnchorCertificate,
        store.state, store.errorCode(), store.creationDate, CustomKeyStores.AWS_CLOUDHSM);
  }
}
