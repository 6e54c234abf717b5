package dev.keyhold.server.quota;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.Maps;
import dev.keyhold.server.authz.KmsOperation;
import java.util.EnumMap;
import java.util.Map;

/**
 * How many requests per second one node admits, as AWS KMS counts them: the cryptographic operations
 * of the account share one rate, those on the keys of one custom key store share another, every other
 * operation has its own, and each access key may have one on top. A rate is positive;
 * {@link #UNLIMITED} ({@link Double#POSITIVE_INFINITY}) admits everything. Immutable; the {@code with}
 * methods return a copy.
 *
 * @param cryptographicPerAccount the rate the {@link KmsOperation#CRYPTOGRAPHIC} operations share (AWS's
 *     "Cryptographic operations (symmetric) request rate"). Keyhold serves one account, so this is one
 *     rate for the node
 * @param perKeyStore the rate of each custom key store: every key a cryptographic operation uses, and a
 *     GenerateRandom that names the store, counts once against its store, on top of the account's rate
 * @param perOperation the rate of each other operation; one it does not name is unlimited
 * @param perCredential the rate of each access key, over every operation, on top of the others
 */
public record QuotaConfig(double cryptographicPerAccount, double perKeyStore,
    ImmutableMap<KmsOperation, Double> perOperation, double perCredential) {
  public static final double UNLIMITED = Double.POSITIVE_INFINITY;

  /**
   * AWS's per-operation quotas (requests per second) for the operations Keyhold serves, from AWS KMS's
   * "Request quotas"; the rotation and import operations are there though Keyhold refuses them for
   * CloudHSM keys, since each still reads the key.
   */
  private static final ImmutableMap<KmsOperation, Double> AWS_OPERATIONS = Maps.immutableEnumMap(Map.ofEntries(
      Map.entry(KmsOperation.CreateCustomKeyStore, 5.0),
      Map.entry(KmsOperation.DescribeCustomKeyStores, 5.0),
      Map.entry(KmsOperation.UpdateCustomKeyStore, 5.0),
      Map.entry(KmsOperation.ConnectCustomKeyStore, 5.0),
      Map.entry(KmsOperation.DisconnectCustomKeyStore, 5.0),
      Map.entry(KmsOperation.DeleteCustomKeyStore, 5.0),
      Map.entry(KmsOperation.CreateKey, 5.0),
      Map.entry(KmsOperation.DescribeKey, 2000.0),
      Map.entry(KmsOperation.ListKeys, 500.0),
      Map.entry(KmsOperation.ListAliases, 500.0),
      Map.entry(KmsOperation.EnableKey, 5.0),
      Map.entry(KmsOperation.DisableKey, 5.0),
      Map.entry(KmsOperation.UpdateKeyDescription, 5.0),
      Map.entry(KmsOperation.ScheduleKeyDeletion, 15.0),
      Map.entry(KmsOperation.CancelKeyDeletion, 5.0),
      Map.entry(KmsOperation.EnableKeyRotation, 15.0),
      Map.entry(KmsOperation.DisableKeyRotation, 5.0),
      Map.entry(KmsOperation.GetKeyRotationStatus, 1000.0),
      Map.entry(KmsOperation.GetParametersForImport, 0.25),
      Map.entry(KmsOperation.ImportKeyMaterial, 5.0),
      Map.entry(KmsOperation.CreateAlias, 5.0),
      Map.entry(KmsOperation.UpdateAlias, 5.0),
      Map.entry(KmsOperation.DeleteAlias, 15.0),
      Map.entry(KmsOperation.TagResource, 10.0),
      Map.entry(KmsOperation.UntagResource, 5.0),
      Map.entry(KmsOperation.ListResourceTags, 2000.0),
      Map.entry(KmsOperation.PutKeyPolicy, 15.0),
      Map.entry(KmsOperation.GetKeyPolicy, 1000.0),
      Map.entry(KmsOperation.ListKeyPolicies, 100.0),
      Map.entry(KmsOperation.CreateGrant, 50.0),
      Map.entry(KmsOperation.ListGrants, 100.0),
      Map.entry(KmsOperation.ListRetirableGrants, 100.0),
      Map.entry(KmsOperation.RetireGrant, 30.0),
      Map.entry(KmsOperation.RevokeGrant, 30.0)));

  private static final QuotaConfig UNLIMITED_CONFIG = new QuotaConfig(UNLIMITED, UNLIMITED, ImmutableMap.of(), UNLIMITED);

  /**
   * AWS's quotas: 10,000 cryptographic requests per second for the account (AWS's rate in its middle
   * tier of Regions; it has 5,500, 10,000 and 50,000), 1,800 per CloudHSM key store, AWS's rate for each
   * other operation, and none per access key (AWS has no such quota).
   */
  private static final QuotaConfig AWS = new QuotaConfig(10_000, 1_800, AWS_OPERATIONS, UNLIMITED);

  public QuotaConfig {
    checkRate(cryptographicPerAccount, "cryptographicPerAccount");
    checkRate(perKeyStore, "perKeyStore");
    checkRate(perCredential, "perCredential");
    perOperation = Maps.immutableEnumMap(checkNotNull(perOperation, "perOperation"));
    perOperation.forEach((operation, rate) -> {
      checkArgument(!KmsOperation.CRYPTOGRAPHIC.contains(operation),
          "%s shares the account's cryptographic rate and has none of its own", operation);
      checkRate(rate, operation.name());
    });
  }

  /** No quota at all. */
  public static QuotaConfig unlimited() {
    return UNLIMITED_CONFIG;
  }

  /** AWS KMS's quotas, per node: 10,000 cryptographic requests/s, 1,800 per key store, AWS's per operation. */
  public static QuotaConfig aws() {
    return AWS;
  }

  public QuotaConfig withCryptographicPerAccount(double rate) {
    return new QuotaConfig(rate, perKeyStore, perOperation, perCredential);
  }

  public QuotaConfig withPerKeyStore(double rate) {
    return new QuotaConfig(cryptographicPerAccount, rate, perOperation, perCredential);
  }

  public QuotaConfig withPerCredential(double rate) {
    return new QuotaConfig(cryptographicPerAccount, perKeyStore, perOperation, rate);
  }

  /**
   * This quota with {@code operation} at {@code rate}.
   *
   * @throws IllegalArgumentException for a {@link KmsOperation#CRYPTOGRAPHIC} operation: those share the account's rate
   */
  public QuotaConfig withOperation(KmsOperation operation, double rate) {
    EnumMap<KmsOperation, Double> rates = new EnumMap<>(KmsOperation.class);
    rates.putAll(perOperation);
    rates.put(operation, rate);
    return new QuotaConfig(cryptographicPerAccount, perKeyStore, Maps.immutableEnumMap(rates), perCredential);
  }

  /** The rate of {@code operation}: the account's cryptographic rate for those, else its own or unlimited. */
  public double rateOf(KmsOperation operation) {
    return KmsOperation.CRYPTOGRAPHIC.contains(operation) ? cryptographicPerAccount : perOperation.getOrDefault(operation, UNLIMITED);
  }

  private static void checkRate(double rate, String name) {
    checkArgument(rate > 0, "%s: a rate must be positive (requests per second): %s", name, rate);
  }
}
