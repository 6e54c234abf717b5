package dev.keyhold.kms.key;

/** CreateKey's input; members may be null where AWS lets them be absent. */
public record CreateKeyRequest(
    String description,
    String keyUsage,
    String keySpec,
    String origin,
    String customKeyStoreId,
    Boolean multiRegion) {

  /** A symmetric key in {@code customKeyStoreId}, as {@code aws kms create-key --origin AWS_CLOUDHSM} makes. */
  public static CreateKeyRequest inCustomKeyStore(String customKeyStoreId, String description) {
    return new CreateKeyRequest(description, null, null, "AWS_CLOUDHSM", customKeyStoreId, null);
  }
}
