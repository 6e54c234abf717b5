package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.DisabledException;
import static dev.keyhold.kms.error.KmsErrorType.IncorrectKeyException;
import static dev.keyhold.kms.error.KmsErrorType.InvalidCiphertextException;
import static dev.keyhold.kms.error.KmsErrorType.InvalidKeyUsageException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInternalException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.NotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static dev.keyhold.kms.error.Validation.enumValue;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;
import static dev.keyhold.kms.error.Validation.sensitiveLength;
import static dev.keyhold.kms.error.Validation.violated;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Validation.Rule;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.SessionsExhaustedException;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Encrypt, Decrypt, GenerateDataKey and GenerateDataKeyWithoutPlaintext with KMS keys of CloudHSM key
 * stores: AES-256-GCM inside the HSM, the ciphertext header and the encryption context as associated
 * data ({@link Ciphertext}).
 *
 * <p>Each operation takes the key the request resolved ({@link KeyRecords#resolve}), the one the
 * request was authorized for; the overloads without one resolve it first, for callers in this process
 * that authorize nothing. The hot path reads no database: keys come from the key cache, logins from
 * {@link KeyStoreConnections}, and each key's {@link Aead} per HSM stays attached to the resolved key
 * while its logins last. Every operation runs on any HSM of the store that holds the key, spread over
 * them and failing over when one stops answering ({@link Failover}).
 *
 * <p>A request with DryRun is checked as it would be run, its key's state and key store included, and
 * answered DryRunOperationException ({@link DryRun}) where it would have gone to an HSM: a dry run
 * never calls one, so what only an HSM can tell (that a ciphertext's tag verifies under its context)
 * is not part of it.
 */
public final class KmsCrypto {
  /** The one encryption algorithm of a symmetric key. */
  static final String SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT";
  private static final int MAX_PLAINTEXT = 4096;
  private static final int MAX_CIPHERTEXT = 6144;

  private static final SecureRandom RANDOM = drbg();

  private final KeyRecords keys;
  private final CustomKeyStores keyStores;
  private final KeyStoreConnections connections;

  public KmsCrypto(KmsKeys keys, CustomKeyStores keyStores, KeyStoreConnections connections) {
    this.keys = keys.resolver();
    this.keyStores = keyStores;
    this.connections = connections;
  }

  /** Encrypt under the key {@code request} names. */
  public EncryptResponse encrypt(EncryptRequest request) {
    return encrypt(keys.resolve(request.keyId()), request);
  }

  /** Encrypt under {@code key}, which {@code request} named. */
  public EncryptResponse encrypt(ResolvedKey key, EncryptRequest request) {
    byte[] plaintext = request.plaintext();
    sensitiveLength(required(plaintext, "plaintext").length, "plaintext", 1, MAX_PLAINTEXT);
    checkAlgorithm(request.encryptionAlgorithm());
    if (DryRun.requested(request.dryRun())) {
      throw dryRunOf(key);
    }
    return new EncryptResponse(seal(key, plaintext, request.encryptionContext()), key.arn(), SYMMETRIC_DEFAULT);
  }

  /** Decrypt under the key the ciphertext names. */
  public DecryptResponse decrypt(DecryptRequest request) {
    return decrypt(keyOfDecrypt(request), request);
  }

  /**
   * Decrypt under {@code key}, the key the ciphertext names in its header ({@link #keyOfDecrypt}).
   *
   * @throws KmsException InvalidCiphertextException if the blob is not one of {@code key}'s
   */
  public DecryptResponse decrypt(ResolvedKey key, DecryptRequest request) {
    if (ignoresCiphertext(request.dryRun(), request.dryRunModifiers())) {
      checkAlgorithm(request.encryptionAlgorithm());
      throw dryRunOf(key);
    }
    byte[] blob = checkCiphertext(request.ciphertextBlob());
    checkAlgorithm(request.encryptionAlgorithm());
    Ciphertext.Parsed parsed = Ciphertext.parse(blob).orElseThrow(KmsCrypto::invalidCiphertext);
    if (!parsed.keyId().equals(key.keyId()) || !key.record().keyStoreId().equals(parsed.keyStoreId())) {
      throw invalidCiphertext();
    }
    if (request.keyId() != null && !keys.resolve(request.keyId()).keyId().equals(key.keyId())) {
      throw new KmsException(IncorrectKeyException,
          "The key ID in the request does not identify a CMK that can perform this operation.");
    }
    if (DryRun.requested(request.dryRun())) {
      throw dryRunOf(key);
    }
    byte[] aad = Ciphertext.associatedData(parsed.header(), EncryptionContext.canonical(request.encryptionContext()));
    byte[] body = parsed.body();
    try {
      ConnectedStore logins = usable(key);
      Aead[] aeads = aeads(key, logins);
      byte[] plaintext = onAnyHsm(key, logins, (index, hsm) -> aeads[index].decrypt(body, aad));
      return new DecryptResponse(key.arn(), plaintext, SYMMETRIC_DEFAULT);
    } catch (dev.keyhold.pkcs11.InvalidCiphertextException e) { // the HSM's verdict on the tag
      throw invalidCiphertext();
    } catch (Pkcs11Exception e) {
      KmsException failure = failureOf(key, e);
      throw failure.type() == NotFoundException ? invalidCiphertext() : failure; // as for a key never seen
    }
  }

  /**
   * The key a ciphertext blob names in its header, resolved without decrypting, so that a caller's
   * right to the key can be checked before the HSM sees the blob.
   *
   * @throws KmsException ValidationException if the blob is absent or of a length no ciphertext has,
   *     InvalidCiphertextException if it is no Keyhold ciphertext or names no key of this service, as
   *     AWS answers
   */
  private ResolvedKey keyOfCiphertext(byte[] ciphertextBlob) {
    String keyId = Ciphertext.keyIdOf(checkCiphertext(ciphertextBlob)).orElseThrow(KmsCrypto::invalidCiphertext);
    try {
      return keys.resolve(keyId);
    } catch (KmsException e) {
      if (e.type() != NotFoundException) {
        throw e;
      }
      throw invalidCiphertext(); // the blob names no key: it is the blob that is wrong
    }
  }

  /**
   * The key a Decrypt uses: the one its ciphertext names ({@link #keyOfCiphertext}), or, for a dry run
   * that ignores the ciphertext (DryRunModifiers {@code IGNORE_CIPHERTEXT}), its KeyId's.
   */
  public ResolvedKey keyOfDecrypt(DecryptRequest request) {
    return keyToDecrypt(request, "keyId");
  }

  /** As {@link #keyOfDecrypt}, for ReEncrypt's source key: SourceKeyId's when a dry run ignores the ciphertext. */
  public ResolvedKey keyOfReEncryptSource(ReEncryptRequest request) {
    return keyToDecrypt(sourceOf(request), "sourceKeyId");
  }

  private ResolvedKey keyToDecrypt(DecryptRequest request, String keyIdMember) {
    return ignoresCiphertext(request.dryRun(), request.dryRunModifiers())
        ? keys.resolve(required(request.keyId(), keyIdMember))
        : keyOfCiphertext(request.ciphertextBlob());
  }

  private static byte[] checkCiphertext(byte[] blob) {
    sensitiveLength(required(blob, "ciphertextBlob").length, "ciphertextBlob", 1, MAX_CIPHERTEXT);
    return blob;
  }

  /**
   * ReEncrypt: decrypts under the source key and encrypts under the destination key, both inside
   * their HSMs; the plaintext exists in this process only between the two calls.
   */
  public ReEncryptResponse reEncrypt(ReEncryptRequest request) {
    ResolvedKey destination = keys.resolve(required(request.destinationKeyId(), "destinationKeyId"));
    return reEncrypt(keyOfReEncryptSource(request), destination, request);
  }

  /**
   * ReEncrypt from {@code source}, the key the ciphertext names ({@link #keyOfReEncryptSource}), to
   * {@code destination}.
   */
  public ReEncryptResponse reEncrypt(ResolvedKey sourceKey, ResolvedKey destination, ReEncryptRequest request) {
    checkAlgorithm(request.destinationEncryptionAlgorithm());
    // Before the source's plaintext exists; and a dry run, which ends in the decryption, checks it here.
    usable(destination);
    DecryptResponse source = decrypt(sourceKey, sourceOf(request));
    byte[] plaintext = source.plaintext();
    try {
      byte[] blob = seal(destination, plaintext, request.destinationEncryptionContext());
      return new ReEncryptResponse(blob, source.keyId(), destination.arn(), source.encryptionAlgorithm(),
          SYMMETRIC_DEFAULT);
    } finally {
      Arrays.fill(plaintext, (byte) 0);
    }
  }

  /** ReEncrypt's decryption, as a Decrypt of its own. */
  private static DecryptRequest sourceOf(ReEncryptRequest request) {
    return new DecryptRequest(request.ciphertextBlob(), request.sourceEncryptionContext(), request.sourceKeyId(),
        request.sourceEncryptionAlgorithm(), request.dryRun(), request.dryRunModifiers());
  }

  /**
   * GenerateRandom: 1 to 1024 bytes from the HSMs of {@code customKeyStoreId} when given (the store
   * must be CONNECTED), else from this process's DRBG.
   */
  public byte[] generateRandom(Integer numberOfBytes, String customKeyStoreId) {
    if (numberOfBytes == null) {
      throw violated(Rule.NUMBER_OF_BYTES_REQUIRED);
    }
    int length = range(numberOfBytes, "numberOfBytes", 1, 1024);
    if (customKeyStoreId == null) {
      byte[] random = new byte[length];
      RANDOM.nextBytes(random);
      return random;
    }
    ConnectedStore logins = keyStores.connected(customKeyStoreId);
    try {
      return Failover.run(logins, (index, hsm) -> hsm.token().generateRandom(length))
          .orElseThrow(() -> new KmsException(KMSInvalidStateException,
              "Custom key store " + customKeyStoreId + " has no HSM logged in."));
    } catch (Pkcs11Exception e) {
      throw clusterFailure(e);
    }
  }

  /** GenerateDataKey: a data key from the HSM's generator, in the clear and encrypted under the KMS key. */
  public GenerateDataKeyResponse generateDataKey(GenerateDataKeyRequest request) {
    return generate(keys.resolve(request.keyId()), request, true);
  }

  /** GenerateDataKey under {@code key}, which {@code request} named. */
  public GenerateDataKeyResponse generateDataKey(ResolvedKey key, GenerateDataKeyRequest request) {
    return generate(key, request, true);
  }

  /** GenerateDataKeyWithoutPlaintext under {@code key}, which {@code request} named. */
  public GenerateDataKeyResponse generateDataKeyWithoutPlaintext(ResolvedKey key, GenerateDataKeyRequest request) {
    return generate(key, request, false);
  }

  private GenerateDataKeyResponse generate(ResolvedKey key, GenerateDataKeyRequest request, boolean withPlaintext) {
    int length = dataKeyLength(request.keySpec(), request.numberOfBytes());
    if (DryRun.requested(request.dryRun())) {
      throw dryRunOf(key);
    }
    byte[] dataKey;
    try {
      dataKey = onAnyHsm(key, usable(key), (index, hsm) -> hsm.token().generateRandom(length));
    } catch (Pkcs11Exception e) {
      throw failureOf(key, e);
    }
    byte[] blob = seal(key, dataKey, request.encryptionContext());
    if (!withPlaintext) {
      Arrays.fill(dataKey, (byte) 0);
    }
    return new GenerateDataKeyResponse(blob, withPlaintext ? Optional.of(dataKey) : Optional.empty(), key.arn());
  }

  private byte[] seal(ResolvedKey key, byte[] plaintext, Map<String, String> context) {
    byte[] header = Ciphertext.header(key.keyId(), key.record().keyStoreId());
    byte[] aad = Ciphertext.associatedData(header, EncryptionContext.canonical(context));
    byte[] body;
    try {
      ConnectedStore logins = usable(key);
      Aead[] aeads = aeads(key, logins);
      body = onAnyHsm(key, logins, (index, hsm) -> aeads[index].encrypt(plaintext, aad));
    } catch (Pkcs11Exception e) {
      throw failureOf(key, e);
    }
    byte[] blob = Arrays.copyOf(header, header.length + body.length);
    System.arraycopy(body, 0, blob, header.length, body.length);
    return blob;
  }

  /** The key's AES-GCM on each HSM of {@code logins}, the store's current ones, attached to the key. */
  private static Aead[] aeads(ResolvedKey key, ConnectedStore logins) {
    Aead[] aeads = key.aeadsFor(logins);
    if (aeads == null) {
      AesKey material = key.record().material();
      aeads = logins.hsms().stream().map(hsm -> hsm.token().aesGcm(material)).toArray(Aead[]::new);
      key.attach(logins, aeads);
    }
    return aeads;
  }

  /** {@code call} on whichever HSM of the store answers first ({@link Failover}). */
  private static <T> T onAnyHsm(ResolvedKey key, ConnectedStore logins, Failover.HsmCall<T> call) {
    return Failover.run(logins, call)
        .orElseThrow(() -> new KmsException(KMSInvalidStateException, key.arn() + " is unavailable."));
  }

  /** The logins of the key's store, checking that the key may be used. */
  private ConnectedStore usable(ResolvedKey key) {
    switch (key.state()) {
      case Disabled -> throw new KmsException(DisabledException, key.arn() + " is disabled.");
      case PendingDeletion -> throw new KmsException(KMSInvalidStateException, key.arn() + " is pending deletion.");
      default -> { }
    }
    return connections.connected(key.record().keyStoreId())
        .orElseThrow(() -> new KmsException(KMSInvalidStateException, key.arn() + " is unavailable."));
  }

  /**
   * Whether a dry run leaves the ciphertext out (DryRunModifiers {@code IGNORE_CIPHERTEXT}): it then
   * checks the caller's right to the key it names instead. Modifiers apply to dry runs alone, but are
   * checked in any request.
   */
  private static boolean ignoresCiphertext(Boolean dryRun, List<String> modifiers) {
    if (modifiers == null) {
      return false;
    }
    for (int i = 0; i < modifiers.size(); i++) {
      enumValue(DryRunModifier.class, modifiers.get(i), "dryRunModifiers." + (i + 1) + ".member");
    }
    return DryRun.requested(dryRun) && modifiers.contains(DryRunModifier.IGNORE_CIPHERTEXT.name());
  }

  /** The end of a dry run whose request passed its own checks: the key must be usable, as for the run. */
  private KmsException dryRunOf(ResolvedKey key) {
    usable(key);
    return DryRun.succeeded();
  }

  private static int dataKeyLength(String keySpec, Integer numberOfBytes) {
    if ((keySpec == null) == (numberOfBytes == null)) {
      throw violated(Rule.BYTES_OR_KEY_SPEC);
    }
    if (numberOfBytes != null) {
      return range(numberOfBytes, "numberOfBytes", 1, 1024);
    }
    return enumValue(DataKeySpec.class, keySpec, "keySpec").bytes;
  }

  private static void checkAlgorithm(String algorithm) {
    if (algorithm != null && !algorithm.equals(SYMMETRIC_DEFAULT)) {
      throw new KmsException(InvalidKeyUsageException,
          "The encryption algorithm " + algorithm + " is not valid for a symmetric KMS key.");
    }
  }

  private static KmsException invalidCiphertext() {
    return new KmsException(InvalidCiphertextException, "");
  }

  /**
   * What a failed HSM call under {@code key} answers. The key may have been deleted since this process
   * cached it (its material destroyed): then NotFoundException, from the database, the one source of
   * truth. Otherwise it is the cluster's failure.
   */
  private KmsException failureOf(ResolvedKey key, Pkcs11Exception e) {
    key.detach();
    return keys.exists(key.keyId()) ? clusterFailure(e) : keys.gone(key.keyId());
  }

  /** A failure of the cluster itself: AWS answers KMSInvalidStateException, or KMSInternalException for sessions. */
  private static KmsException clusterFailure(Pkcs11Exception e) {
    if (e instanceof SessionsExhaustedException) {
      return new KmsException(KMSInternalException,
          "No PKCS #11 session was free in the AWS CloudHSM cluster; retry the request.", e);
    }
    return new KmsException(KMSInvalidStateException, "KMS cannot use your AWS CloudHSM cluster: "
        + e.returnValue().orElse(e.getClass().getSimpleName()), e);
  }

  private static SecureRandom drbg() {
    try {
      return SecureRandom.getInstance("DRBG");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JDK has no DRBG", e);
    }
  }

  /** What a dry run may leave out. */
  private enum DryRunModifier {
    IGNORE_CIPHERTEXT
  }

  /** GenerateDataKey's KeySpec. */
  private enum DataKeySpec {
    AES_256(32),
    AES_128(16);

    final int bytes;

    DataKeySpec(int bytes) {
      this.bytes = bytes;
    }
  }
}
