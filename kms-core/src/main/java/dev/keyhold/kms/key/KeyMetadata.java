package dev.keyhold.kms.key;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/** CreateKey's and DescribeKey's KeyMetadata, with the members AWS sets for CloudHSM key store keys. */
public record KeyMetadata(
    String awsAccountId,
    String keyId,
    String arn,
    Instant creationDate,
    boolean enabled,
    String description,
    KeyUsage keyUsage,
    KeyState keyState,
    Optional<Instant> deletionDate,
    Origin origin,
    Optional<String> customKeyStoreId,
    Optional<String> cloudHsmClusterId,
    String keyManager,
    KeySpec customerMasterKeySpec,
    KeySpec keySpec,
    List<String> encryptionAlgorithms,
    boolean multiRegion) {

  public KeyMetadata {
    encryptionAlgorithms = List.copyOf(encryptionAlgorithms);
  }
}
