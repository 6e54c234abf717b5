package dev.keyhold.server.wire;

import static dev.keyhold.server.authz.KmsOperation.CancelKeyDeletion;
import static dev.keyhold.server.authz.KmsOperation.ConnectCustomKeyStore;
import static dev.keyhold.server.authz.KmsOperation.CreateAlias;
import static dev.keyhold.server.authz.KmsOperation.CreateCustomKeyStore;
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
import static dev.keyhold.server.authz.KmsOperation.ListKeyPolicies;
import static dev.keyhold.server.authz.KmsOperation.ListKeys;
import static dev.keyhold.server.authz.KmsOperation.ListResourceTags;
import static dev.keyhold.server.authz.KmsOperation.PutKeyPolicy;
import static dev.keyhold.server.authz.KmsOperation.ReEncrypt;
import static dev.keyhold.server.authz.KmsOperation.ScheduleKeyDeletion;
import static dev.keyhold.server.authz.KmsOperation.TagResource;
import static dev.keyhold.server.authz.KmsOperation.UntagResource;
import static dev.keyhold.server.authz.KmsOperation.UpdateAlias;
import static dev.keyhold.server.authz.KmsOperation.UpdateCustomKeyStore;
import static dev.keyhold.server.authz.KmsOperation.UpdateKeyDescription;

import com.google.common.collect.ImmutableMap;
import com.google.common.collect.Maps;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.DecryptRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.GenerateDataKeyRequest;
import dev.keyhold.kms.key.ReEncryptRequest;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.kms.keystore.DescribeCustomKeyStoresRequest;
import dev.keyhold.kms.keystore.UpdateCustomKeyStoreRequest;
import dev.keyhold.server.Backend;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.wire.Requests.AliasRequest;
import dev.keyhold.server.wire.Requests.CustomKeyStoreIdRequest;
import dev.keyhold.server.wire.Requests.DeleteAliasRequest;
import dev.keyhold.server.wire.Requests.GenerateRandomRequest;
import dev.keyhold.server.wire.Requests.GetKeyPolicyRequest;
import dev.keyhold.server.wire.Requests.KeyIdRequest;
import dev.keyhold.server.wire.Requests.KeyPageRequest;
import dev.keyhold.server.wire.Requests.PageRequest;
import dev.keyhold.server.wire.Requests.PutKeyPolicyRequest;
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
 * {@link KeyAccess} for. Who may run operations that use no key is the handler's to check
 * ({@link KmsOperation#authorization()}).
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
            (backend, r) -> Map.of("CustomKeyStoreId", backend.keyStores().createCustomKeyStore(r))),
        op(DescribeCustomKeyStores, DescribeCustomKeyStoresRequest.class,
            (backend, r) -> backend.keyStores().describeCustomKeyStores(r)),
        op(UpdateCustomKeyStore, UpdateCustomKeyStoreRequest.class,
            empty((backend, r) -> backend.keyStores().updateCustomKeyStore(r))),
        op(ConnectCustomKeyStore, CustomKeyStoreIdRequest.class,
            empty((backend, r) -> backend.keyStores().connectCustomKeyStore(r.customKeyStoreId()))),
        op(DisconnectCustomKeyStore, CustomKeyStoreIdRequest.class,
            empty((backend, r) -> backend.keyStores().disconnectCustomKeyStore(r.customKeyStoreId()))),
        op(DeleteCustomKeyStore, CustomKeyStoreIdRequest.class,
            empty((backend, r) -> backend.keyStores().deleteCustomKeyStore(r.customKeyStoreId()))),

        // KMS keys.
        custom(CreateKey, CreateKeyRequest.class, (backend, keys, r) -> {
          keys.checkNotLockedOut(r.policy(), Optional.empty(), r.bypassPolicyLockoutSafetyCheck());
          KeyMetadata created = backend.keys().createKey(r);
          keys.noteCreated(created.arn());
          return Map.of("KeyMetadata", created);
        }),
        onKeyId(DescribeKey, (backend, r) -> Map.of("KeyMetadata", backend.keys().describeKey(r.keyId()))),
        op(ListKeys, PageRequest.class, (backend, r) -> backend.keys().listKeys(r.limit(), r.marker())),
        onKeyId(EnableKey, empty((backend, r) -> backend.keys().enableKey(r.keyId()))),
        onKeyId(DisableKey, empty((backend, r) -> backend.keys().disableKey(r.keyId()))),
        onKey(UpdateKeyDescription, UpdateKeyDescriptionRequest.class, UpdateKeyDescriptionRequest::keyId,
            empty((backend, r) -> backend.keys().updateKeyDescription(r.keyId(), r.description()))),
        onKey(ScheduleKeyDeletion, ScheduleKeyDeletionRequest.class, ScheduleKeyDeletionRequest::keyId,
            (backend, r) -> backend.keys().scheduleKeyDeletion(r.keyId(), r.pendingWindowInDays())),
        onKeyId(CancelKeyDeletion, (backend, r) -> Map.of("KeyId", backend.keys().cancelKeyDeletion(r.keyId()))),
        onKeyId(EnableKeyRotation, empty((backend, r) -> backend.keys().enableKeyRotation(r.keyId()))),
        onKeyId(DisableKeyRotation, empty((backend, r) -> backend.keys().disableKeyRotation(r.keyId()))),
        onKeyId(GetKeyRotationStatus,
            (backend, r) -> Map.of("KeyRotationEnabled", backend.keys().getKeyRotationStatus(r.keyId()))),
        onKeyId(GetParametersForImport, empty((backend, r) -> backend.keys().getParametersForImport(r.keyId()))),
        onKeyId(ImportKeyMaterial, empty((backend, r) -> backend.keys().importKeyMaterial(r.keyId()))),

        // Aliases.
        onKey(CreateAlias, AliasRequest.class, AliasRequest::targetKeyId, "targetKeyId",
            empty((backend, r) -> backend.keys().aliases().createAlias(r.aliasName(), r.targetKeyId()))),
        custom(UpdateAlias, AliasRequest.class, (backend, keys, r) -> {
          keys.allowAliasTarget(r.aliasName());
          keys.allowDestinationKey("targetKeyId", r.targetKeyId(), Map.of());
          backend.keys().aliases().updateAlias(r.aliasName(), r.targetKeyId());
          return EMPTY;
        }),
        custom(DeleteAlias, DeleteAliasRequest.class, (backend, keys, r) -> {
          keys.allowAliasTarget(r.aliasName());
          backend.keys().aliases().deleteAlias(r.aliasName());
          return EMPTY;
        }),
        op(ListAliases, KeyPageRequest.class,
            (backend, r) -> backend.keys().aliases().listAliases(r.keyId(), r.limit(), r.marker())),

        // Tags.
        onKey(TagResource, TagResourceRequest.class, TagResourceRequest::keyId,
            empty((backend, r) -> backend.keys().tags().tagResource(r.keyId(), r.tags()))),
        onKey(UntagResource, UntagResourceRequest.class, UntagResourceRequest::keyId,
            empty((backend, r) -> backend.keys().tags().untagResource(r.keyId(), r.tagKeys()))),
        onKey(ListResourceTags, KeyPageRequest.class, KeyPageRequest::keyId,
            (backend, r) -> backend.keys().tags().listResourceTags(r.keyId(), r.limit(), r.marker())),

        // Key policies.
        custom(PutKeyPolicy, PutKeyPolicyRequest.class, (backend, keys, r) -> {
          String keyArn = keys.allowKey("keyId", r.keyId(), Map.of());
          keys.checkNotLockedOut(r.policy(), Optional.of(keyArn), r.bypassPolicyLockoutSafetyCheck());
          backend.keys().policies().putKeyPolicy(r.keyId(), r.policyName(), r.policy());
          return EMPTY;
        }),
        onKey(GetKeyPolicy, GetKeyPolicyRequest.class, GetKeyPolicyRequest::keyId,
            (backend, r) -> backend.keys().policies().getKeyPolicy(r.keyId(), r.policyName())),
        onKey(ListKeyPolicies, KeyPageRequest.class, KeyPageRequest::keyId,
            (backend, r) -> Map.of(
                "PolicyNames", backend.keys().policies().listKeyPolicies(r.keyId()), "Truncated", false)),

        // Cryptographic operations.
        onKey(Encrypt, EncryptRequest.class, EncryptRequest::keyId, EncryptRequest::encryptionContext,
            (backend, r) -> backend.crypto().encrypt(r)),
        custom(Decrypt, DecryptRequest.class, (backend, keys, r) -> {
          keys.allowKeyOfCiphertext(backend.crypto().keyIdOf(r.ciphertextBlob()), r.encryptionContext());
          return backend.crypto().decrypt(r);
        }),
        custom(ReEncrypt, ReEncryptRequest.class, (backend, keys, r) -> {
          keys.allowDestinationKey("destinationKeyId", r.destinationKeyId(), r.destinationEncryptionContext());
          keys.allowKeyOfCiphertext(backend.crypto().keyIdOf(r.ciphertextBlob()), r.sourceEncryptionContext());
          return backend.crypto().reEncrypt(r);
        }),
        onKey(GenerateDataKey, GenerateDataKeyRequest.class, GenerateDataKeyRequest::keyId,
            GenerateDataKeyRequest::encryptionContext, (backend, r) -> backend.crypto().generateDataKey(r)),
        onKey(GenerateDataKeyWithoutPlaintext, GenerateDataKeyRequest.class, GenerateDataKeyRequest::keyId,
            GenerateDataKeyRequest::encryptionContext,
            (backend, r) -> backend.crypto().generateDataKeyWithoutPlaintext(r)),
        op(GenerateRandom, GenerateRandomRequest.class, (backend, r) -> Map.of("Plaintext",
            backend.crypto().generateRandom(r.numberOfBytes(), r.customKeyStoreId())))),
        WireOperation::operation);
  }

  /** An operation that uses no key. */
  private static <R> WireOperation<R> op(KmsOperation operation, Class<R> type, BiFunction<Backend, R, Object> call) {
    return new WireOperation<>(operation, type, (backend, keys, request) -> call.apply(backend, request));
  }

  /** An operation that checks its keys itself. */
  private static <R> WireOperation<R> custom(KmsOperation operation, Class<R> type, WireOperation.Call<R> call) {
    return new WireOperation<>(operation, type, call);
  }

  /** An operation on the key its KeyId names, and nothing else in the request. */
  private static WireOperation<KeyIdRequest> onKeyId(KmsOperation operation,
      BiFunction<Backend, KeyIdRequest, Object> call) {
    return onKey(operation, KeyIdRequest.class, KeyIdRequest::keyId, call);
  }

  /** An operation on the key its KeyId names. */
  private static <R> WireOperation<R> onKey(KmsOperation operation, Class<R> type, Function<R, String> keyId,
      BiFunction<Backend, R, Object> call) {
    return onKey(operation, type, keyId, "keyId", call);
  }

  /** An operation on the key its member {@code member} names. */
  private static <R> WireOperation<R> onKey(KmsOperation operation, Class<R> type, Function<R, String> key,
      String member, BiFunction<Backend, R, Object> call) {
    return custom(operation, type, (backend, keys, request) -> {
      keys.allowKey(member, key.apply(request), Map.of());
      return call.apply(backend, request);
    });
  }

  /** An operation on the key its KeyId names, with an encryption context for the key policy's conditions. */
  private static <R> WireOperation<R> onKey(KmsOperation operation, Class<R> type, Function<R, String> keyId,
      Function<R, Map<String, String>> encryptionContext, BiFunction<Backend, R, Object> call) {
    return custom(operation, type, (backend, keys, request) -> {
      keys.allowKey("keyId", keyId.apply(request), encryptionContext.apply(request));
      return call.apply(backend, request);
    });
  }

  /** A call that returns nothing, answered with {@code {}}. */
  private static <R> BiFunction<Backend, R, Object> empty(BiConsumer<Backend, R> call) {
    return (backend, request) -> {
      call.accept(backend, request);
      return EMPTY;
    };
  }
}
