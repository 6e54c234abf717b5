package dev.keyhold.kms.key;

import java.util.List;

/**
 * CreateKey's input; members may be null where AWS lets them be absent. {@code bypassPolicyLockoutSafetyCheck}
 * is kept for the HTTP layer, which enforces policies.
 */
public record CreateKeyRequest(
    String description,
    String keyUsage,
    String keySpec,
    String origin,
    String customKeyStoreId,
    Boolean multiRegion,
    String policy,
    List<Tag> tags,
    Boolean bypassPolicyLockoutSafetyCheck) {

  /** Without Policy and Tags: the key gets the default key policy and no tags. */
  public CreateKeyRequest(String description, String keyUsage, String keySpec, String origin,
      String customKeyStoreId, Boolean multiRegion) {
    this(description, keyUsage, keySpec, origin, customKeyStoreId, multiRegion, null, null, null);
  }

  /** A symmetric key in {@code customKeyStoreId}, as {@code aws kms create-key --origin AWS_CLOUDHSM} makes. */
  public static CreateKeyRequest inCustomKeyStore(String customKeyStoreId, String description) {
    return new CreateKeyRequest(description, null, null, "AWS_CLOUDHSM", customKeyStoreId, null);
  }
}
