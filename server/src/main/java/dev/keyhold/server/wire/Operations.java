package dev.keyhold.server.wire;

import static dev.keyhold.server.authz.KmsOperation.CancelKeyDeletion;
import static dev.keyhold.server.authz.KmsOperation.ConnectCustomKeyStore;
import static dev.keyhold.server.authz.KmsOperation.CreateAlias;
import static dev.keyhold.server.authz.KmsOperation.CreateCustomKeyStore;
import static dev.keyhold.server.authz.KmsOperation.CreateGrant;
import static dev.keyhold.server.authz.KmsOperation.CreateKey;
import static dev.keyhold.server.authz.KmsOperation.Decrypt;
import static dev.keyhold.server.authz.KmsOperation.DeleteAlias;
import static dev.keyhold.server.authz.KmsOperation.DeleteCustomKeyStore;
import static dev.keyhold.server.authz.KmsOperation.DescribeCustomKeyStores;
import static dev.keyhold.server.authz.KmsOperation.DescribeKey;
import static dev.keyhold.server.authz.KmsOperation.DisableKey;
import static dev.keyhold.server.authz.KmsOperation.DisableKeyRotation;
import static dev.keyhold.server.authz.KmsOperation.DisconnectCustomKeyStore;
import static dev.keyhold.server.authz.KmsOperation.EnableKey;
import static dev.keyhold.server.authz.KmsOperation.EnableKeyRotation;
import static dev.keyhold.server.authz.KmsOperation.Encrypt;
import static dev.keyhold.server.authz.KmsOperation.GenerateDataKey;
import static dev.keyhold.server.authz.KmsOperation.GenerateDataKeyWithoutPlaintext;
import static dev.keyhold.server.authz.KmsOperation.GenerateRandom;
import static dev.keyhold.server.authz.KmsOperation.GetKeyPolicy;
import static dev.keyhold.server.authz.KmsOperation.GetKeyRotationStatus;
import static dev.keyhold.server.authz.KmsOperation.GetParametersForImport;
import static dev.keyhold.server.authz.KmsOperation.ImportKeyMaterial;
import static dev.keyhold.server.authz.KmsOperation.ListAliases;
import static dev.keyhold.server.authz.KmsOperation.ListGrants;
import static dev.keyhold.server.authz.KmsOperation.ListKeyPolicies;
import static dev.keyhold.server.authz.KmsOperation.ListKeys;
import static dev.keyhold.server.authz.KmsOperation.ListResourceTags;
import static dev.keyhold.server.authz.KmsOperation.ListRetirableGrants;
import static dev.keyhold.server.authz.KmsOperation.PutKeyPolicy;
import static dev.keyhold.server.authz.KmsOperation.ReEncrypt;
import static dev.keyhold.server.authz.KmsOperation.RetireGrant;
import static dev.keyhold.server.authz.KmsOperation.RevokeGrant;
import static dev.keyhold.server.authz.KmsOperation.ScheduleKeyDeletion;
import static dev.keyhold.server.authz.KmsOperation.TagResource;
import static dev.keyhold.server.authz.KmsOperation.UntagResource;
import static dev.keyhold.server.authz.KmsOperation.UpdateAlias;
import static dev.keyhold.server.authz.KmsOperation.UpdateCustomKeyStore;
import static dev.keyhold.server.authz.KmsOperation.UpdateKeyDescription;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.Maps;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.key.CreateGrantRequest;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.DecryptRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.GenerateDataKeyRequest;
import dev.keyhold.kms.key.KeyGrants;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.ReEncryptRequest;
import dev.keyhold.kms.key.ResolvedKey;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.keystore.DescribeCustomKeyStoresRequest;
import dev.keyhold.kms.keystore.UpdateCustomKeyStoreRequest;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.wire.Requests.AliasRequest;
import dev.keyhold.server.wire.Requests.CustomKeyStoreIdRequest;
import dev.keyhold.server.wire.Requests.DeleteAliasRequest;
import dev.keyhold.server.wire.Requests.GenerateRandomRequest;
import dev.keyhold.server.wire.Requests.GetKeyPolicyRequest;
import dev.keyhold.server.wire.Requests.KeyIdRequest;
import dev.keyhold.server.wire.Requests.KeyPageRequest;
import dev.keyhold.server.wire.Requests.ListGrantsRequest;
import dev.keyhold.server.wire.Requests.ListRetirableGrantsRequest;
import dev.keyhold.server.wire.Requests.PageRequest;
import dev.keyhold.server.wire.Requests.PutKeyPolicyRequest;
import dev.keyhold.server.wire.Requests.RetireGrantRequest;
import dev.keyhold.server.wire.Requests.RevokeGrantRequest;
import dev.keyhold.server.wire.Requests.ScheduleKeyDeletionRequest;
import dev.keyhold.server.wire.Requests.TagResourceRequest;
import dev.keyhold.server.wire.Requests.UntagResourceRequest;
import dev.keyhold.server.wire.Requests.UpdateKeyDescriptionRequest;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Every operation Keyhold serves: its request, the kms-core call it makes, and the keys it asks
 * {@link KeyAccess} for. An operation on a key runs on the key KeyAccess resolved and authorized, by
 * its key id, so that an alias that moves meanwhile cannot point it at another key. Who may run
 * operations that use no key is the handler's to check ({@link KmsOperation#authorization()}).
 *
 * <p>Responses are kms-core's records where it has them; where it returns a bare value, a map of the
 * one or two members AWS names.
 */
final class Operations {
  /** The answer of an operation with no output: {@code {}}. */
  private static final Map<String, Object> EMPTY = Map.of();

  private Operations() {}

  static ImmutableMap<KmsOperation, WireOperation<?>> all() {
    return Maps.uniqueIndex(List.<WireOperation<?>>of(
        // Custom key stores.
        op(CreateCustomKeyStore, CreateCustomKeyStoreRequest.class,
            (kms, r) -> Map.of("CustomKeyStoreId", kms.keyStores().createCustomKeyStore(r))),
        op(DescribeCustomKeyStores, DescribeCustomKeyStoresRequest.class,
            (kms, r) -> kms.keyStores().describeCustomKeyStores(r)),
        op(UpdateCustomKeyStore, UpdateCustomKeyStoreRequest.class,
            empty((kms, r) -> kms.keyStores().updateCustomKeyStore(r))),
        op(ConnectCustomKeyStore, CustomKeyStoreIdRequest.class,
            empty((kms, r) -> kms.keyStores().connectCustomKeyStore(r.customKeyStoreId()))),
        op(DisconnectCustomKeyStore, CustomKeyStoreIdRequest.class,
            empty((kms, r) -> kms.keyStores().disconnectCustomKeyStore(r.customKeyStoreId()))),
        op(DeleteCustomKeyStore, CustomKeyStoreIdRequest.class,
            empty((kms, r) -> kms.keyStores().deleteCustomKeyStore(r.customKeyStoreId()))),

        // KMS keys.
        custom(CreateKey, CreateKeyRequest.class, (kms, keys, r) -> {
          keys.checkNotLockedOut(r.policy(), Optional.empty(), r.bypassPolicyLockoutSafetyCheck());
          KeyMetadata created = kms.keys().createKey(r);
          keys.noteCreated(created.arn());
          return Map.of("KeyMetadata", created);
        }),
        onKeyId(DescribeKey, (kms, key, r) -> Map.of("KeyMetadata", kms.keys().describeKey(key.keyId()))),
        op(ListKeys, PageRequest.class, (kms, r) -> kms.keys().listKeys(r.limit(), r.marker())),
        onKeyId(EnableKey, empty((kms, key, r) -> kms.keys().enableKey(key.keyId()))),
        onKeyId(DisableKey, empty((kms, key, r) -> kms.keys().disableKey(key.keyId()))),
        onKey(UpdateKeyDescription, UpdateKeyDescriptionRequest.class, UpdateKeyDescriptionRequest::keyId,
            empty((kms, key, r) -> kms.keys().updateKeyDescription(key.keyId(), r.description()))),
        onKey(ScheduleKeyDeletion, ScheduleKeyDeletionRequest.class, ScheduleKeyDeletionRequest::keyId,
            (kms, key, r) -> kms.keys().deletions().scheduleKeyDeletion(key.keyId(), r.pendingWindowInDays())),
        onKeyId(CancelKeyDeletion,
            (kms, key, r) -> Map.of("KeyId", kms.keys().deletions().cancelKeyDeletion(key.keyId()))),
        onKeyId(EnableKeyRotation, empty((kms, key, r) -> kms.keys().enableKeyRotation(key.keyId()))),
        onKeyId(DisableKeyRotation, empty((kms, key, r) -> kms.keys().disableKeyRotation(key.keyId()))),
        onKeyId(GetKeyRotationStatus,
            (kms, key, r) -> Map.of("KeyRotationEnabled", kms.keys().getKeyRotationStatus(key.keyId()))),
        onKeyId(GetParametersForImport, empty((kms, key, r) -> kms.keys().getParametersForImport(key.keyId()))),
        onKeyId(ImportKeyMaterial, empty((kms, key, r) -> kms.keys().importKeyMaterial(key.keyId()))),

        // Aliases: the target is named as the request gave it, for kms-core's check that it is no alias.
        onKey(CreateAlias, AliasRequest.class, AliasRequest::targetKeyId, "targetKeyId",
            empty((kms, key, r) -> kms.keys().aliases().createAlias(r.aliasName(), r.targetKeyId()))),
        custom(UpdateAlias, AliasRequest.class, (kms, keys, r) -> {
          keys.allowAliasTarget(r.aliasName());
          keys.allowDestinationKey("targetKeyId", r.targetKeyId(), Map.of());
          kms.keys().aliases().updateAlias(r.aliasName(), r.targetKeyId());
          return EMPTY;
        }),
        custom(DeleteAlias, DeleteAliasRequest.class, (kms, keys, r) -> {
          keys.allowAliasTarget(r.aliasName());
          kms.keys().aliases().deleteAlias(r.aliasName());
          return EMPTY;
        }),
        custom(ListAliases, KeyPageRequest.class,
            (kms, keys, r) -> kms.keys().aliases().listAliases(keys.namedKey(r.keyId()), r.limit(), r.marker())),

        // Tags.
        onKey(TagResource, TagResourceRequest.class, TagResourceRequest::keyId,
            empty((kms, key, r) -> kms.keys().tags().tagResource(key.keyId(), r.tags()))),
        onKey(UntagResource, UntagResourceRequest.class, UntagResourceRequest::keyId,
            empty((kms, key, r) -> kms.keys().tags().untagResource(key.keyId(), r.tagKeys()))),
        onKey(ListResourceTags, KeyPageRequest.class, KeyPageRequest::keyId,
            (kms, key, r) -> kms.keys().tags().listResourceTags(key.keyId(), r.limit(), r.marker())),

        // Key policies.
        custom(PutKeyPolicy, PutKeyPolicyRequest.class, (kms, keys, r) -> {
          ResolvedKey key = keys.allowKey("keyId", r.keyId(), Map.of());
          keys.checkNotLockedOut(r.policy(), Optional.of(key.arn()), r.bypassPolicyLockoutSafetyCheck());
          kms.keys().policies().putKeyPolicy(key.keyId(), r.policyName(), r.policy());
          return EMPTY;
        }),
        onKey(GetKeyPolicy, GetKeyPolicyRequest.class, GetKeyPolicyRequest::keyId,
            (kms, key, r) -> kms.keys().policies().getKeyPolicy(key.keyId(), r.policyName())),
        onKey(ListKeyPolicies, KeyPageRequest.class, KeyPageRequest::keyId,
            (kms, key, r) -> Map.of(
                "PolicyNames", kms.keys().policies().listKeyPolicies(key.keyId()), "Truncated", false)),

        // Grants.
        custom(CreateGrant, CreateGrantRequest.class, (kms, keys, r) ->
            kms.grants().createGrant(keys.allowCreateGrant(r.keyId(), r.operations(), r.constraints()), r)),
        onKey(ListGrants, ListGrantsRequest.class, ListGrantsRequest::keyId,
            (kms, key, r) -> kms.grants().listGrants(key, r.limit(), r.marker(), r.grantId(), r.granteePrincipal())),
        op(ListRetirableGrants, ListRetirableGrantsRequest.class,
            (kms, r) -> kms.grants().listRetirableGrants(r.retiringPrincipal(), r.limit(), r.marker())),
        custom(RetireGrant, RetireGrantRequest.class, (kms, keys, r) -> {
          KeyGrants.NamedGrant grant = kms.grants().named(r.grantToken(), r.keyId(), r.grantId());
          keys.allowRetire(grant);
          kms.grants().deleteGrant(grant, r.dryRun());
          return EMPTY;
        }),
        onKey(RevokeGrant, RevokeGrantRequest.class, RevokeGrantRequest::keyId, empty((kms, key, r) ->
            kms.grants().deleteGrant(kms.grants().named(key, r.grantId()), r.dryRun()))),

        // Cryptographic operations.
        onKey(Encrypt, EncryptRequest.class, EncryptRequest::keyId, EncryptRequest::encryptionContext,
            (kms, key, r) -> kms.crypto().encrypt(key, r)),
        custom(Decrypt, DecryptRequest.class, (kms, keys, r) -> {
          ResolvedKey key = keys.allowKeyOfCiphertext(() -> kms.crypto().keyOfDecrypt(r), r.encryptionContext());
          return kms.crypto().decrypt(key, r);
        }),
        custom(ReEncrypt, ReEncryptRequest.class, (kms, keys, r) -> {
          ResolvedKey destination =
              keys.allowDestinationKey("destinationKeyId", r.destinationKeyId(), r.destinationEncryptionContext());
          ResolvedKey source =
              keys.allowKeyOfCiphertext(() -> kms.crypto().keyOfReEncryptSource(r), r.sourceEncryptionContext());
          return kms.crypto().reEncrypt(source, destination, r);
        }),
        onKey(GenerateDataKey, GenerateDataKeyRequest.class, GenerateDataKeyRequest::keyId,
            GenerateDataKeyRequest::encryptionContext, (kms, key, r) -> kms.crypto().generateDataKey(key, r)),
        onKey(GenerateDataKeyWithoutPlaintext, GenerateDataKeyRequest.class, GenerateDataKeyRequest::keyId,
            GenerateDataKeyRequest::encryptionContext,
            (kms, key, r) -> kms.crypto().generateDataKeyWithoutPlaintext(key, r)),
        custom(GenerateRandom, GenerateRandomRequest.class, (kms, keys, r) -> {
          keys.useKeyStore(r.customKeyStoreId());
          return Map.of("Plaintext", kms.crypto().generateRandom(r.numberOfBytes(), r.customKeyStoreId()));
        })),
        WireOperation::operation);
  }

  /** A call on the key the request names, as {@link KeyAccess} resolved and authorized it. */
  @FunctionalInterface
  private interface KeyCall<R> {
    Object run(Keyhold kms, ResolvedKey key, R request);
  }

  /** An operation that uses no key. */
  private static <R> WireOperation<R> op(KmsOperation operation, Class<R> type, BiFunction<Keyhold, R, Object> call) {
    return new WireOperation<>(operation, type, (kms, keys, request) -> call.apply(kms, request));
  }

  /** An operation that checks its keys itself. */
  private static <R> WireOperation<R> custom(KmsOperation operation, Class<R> type, WireOperation.Call<R> call) {
    return new WireOperation<>(operation, type, call);
  }

  /** An operation on the key its KeyId names, and nothing else in the request. */
  private static WireOperation<KeyIdRequest> onKeyId(KmsOperation operation, KeyCall<KeyIdRequest> call) {
    return onKey(operation, KeyIdRequest.class, KeyIdRequest::keyId, call);
  }

  /** An operation on the key its KeyId names. */
  private static <R> WireOperation<R> onKey(KmsOperation operation, Class<R> type, Function<R, String> keyId,
      KeyCall<R> call) {
    return onKey(operation, type, keyId, "keyId", call);
  }

  /** An operation on the key its member {@code member} names. */
  private static <R> WireOperation<R> onKey(KmsOperation operation, Class<R> type, Function<R, String> key,
      String member, KeyCall<R> call) {
    return custom(operation, type,
        (kms, keys, request) -> call.run(kms, keys.allowKey(member, key.apply(request), Map.of()), request));
  }

  /** An operation on the key its KeyId names, with an encryption context for the key policy's conditions. */
  private static <R> WireOperation<R> onKey(KmsOperation operation, Class<R> type, Function<R, String> keyId,
      Function<R, Map<String, String>> encryptionContext, KeyCall<R> call) {
    return custom(operation, type, (kms, keys, request) -> call.run(
        kms, keys.allowKey("keyId", keyId.apply(request), encryptionContext.apply(request)), request));
  }

  /** An operation with no output, answered with {@code {}}. */
  private static <R> BiFunction<Keyhold, R, Object> empty(BiConsumer<Keyhold, R> call) {
    return (kms, request) -> {
      call.accept(kms, request);
      return EMPTY;
    };
  }

  /** A call on a key with no output, answered with {@code {}}. */
  private static <R> KeyCall<R> empty(KeyConsumer<R> call) {
    return (kms, key, request) -> {
      call.accept(kms, key, request);
      return EMPTY;
    };
  }

  @FunctionalInterface
  private interface KeyConsumer<R> {
    void accept(Keyhold kms, ResolvedKey key, R request);
  }
}
