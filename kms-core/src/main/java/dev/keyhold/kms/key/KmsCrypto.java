package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.DisabledException;
import static dev.keyhold.kms.error.KmsErrorType.IncorrectKeyException;
import static dev.keyhold.kms.error.KmsErrorType.InvalidCiphertextException;
import static dev.keyhold.kms.error.KmsErrorType.InvalidKeyUsageException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInternalException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.NotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.KeyStoreConnections;
import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.SessionsExhaustedException;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Encrypt, Decrypt, GenerateDataKey and GenerateDataKeyWithoutPlaintext with KMS keys of CloudHSM key
 * stores: AES-256-GCM inside the HSM, the ciphertext header and the encryption context as associated
 * data ({@link Ciphertext}).
 *
 * <p>The hot path reads no database: keys come from {@link KmsKeys}' cache, logins from
 * {@link KeyStoreConnections}, and each key's {@link Aead} per HSM is kept per connection. Every
 * operation runs on any HSM of the store that holds the key, spread over them and failing over
 * when one stops answering ({@link Failover}).
 */
public final class KmsCrypto {
  private static final String SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT";
  private static final int MAX_PLAINTEXT = 4096;
  private static final int MAX_CIPHERTEXT = 6144;

  private final KmsKeys keys;
  private final KeyStoreConnections connections;
  private static final SecureRandom RANDOM = drbg();
  private final Map<String, Bound> aeads = new ConcurrentHashMap<>();

  public KmsCrypto(KmsKeys keys, KeyStoreConnections connections) {
    this.keys = keys;
    this.connections = connections;
  }

  public EncryptResponse encrypt(EncryptRequest request) {
    byte[] plaintext = request.plaintext();
    if (plaintext == null) {
      throw new KmsException(ValidationException, "1 validation error detected: Value null at 'plaintext' failed "
          + "to satisfy constraint: Member must not be null");
    }
    checkPlaintextLength(plaintext.length);
    checkAlgorithm(request.encryptionAlgorithm());
    KeyRecord key = keys.resolve(required(request.keyId(), "keyId"));
    return new EncryptResponse(seal(key, plaintext, request.encryptionContext()), key.arn(), SYMMETRIC_DEFAULT);
  }

  public DecryptResponse decrypt(DecryptRequest request) {
    byte[] blob = request.ciphertextBlob();
    if (blob == null) {
      throw new KmsException(ValidationException, "1 validation error detected: Value null at 'ciphertextBlob' "
          + "failed to satisfy constraint: Member must not be null");
    }
    if (blob.length == 0 || blob.length > MAX_CIPHERTEXT) {
      throw new KmsException(ValidationException, "1 validation error detected: Value at 'ciphertextBlob' failed to "
          + "satisfy constraint: Member must have length " + (blob.length == 0
              ? "greater than or equal to 1" : "less than or equal to " + MAX_CIPHERTEXT));
    }
    checkAlgorithm(request.encryptionAlgorithm());
    Ciphertext.Parsed parsed = Ciphertext.parse(blob).orElseThrow(KmsCrypto::invalidCiphertext);
    KeyRecord key;
    try {
      key = keys.resolve(parsed.keyId());
    } catch (KmsException e) {
      throw invalidCiphertext(); // the blob names no key: it is the blob that is wrong
    }
    if (request.keyId() != null && !keys.resolve(request.keyId()).keyId().equals(key.keyId())) {
      throw new KmsException(IncorrectKeyException,
          "The key ID in the request does not identify a CMK that can perform this operation.");
    }
    if (!key.keyStoreId().equals(parsed.keyStoreId())) {
      throw invalidCiphertext();
    }
    byte[] aad = Ciphertext.associatedData(parsed.header(), EncryptionContext.canonical(request.encryptionContext()));
    byte[] body = parsed.body();
    try {
      Bound bound = bound(key);
      byte[] plaintext = onAnyHsm(key, bound.logins, (index, hsm) -> bound.aeads[index].decrypt(body, aad));
      return new DecryptResponse(key.arn(), plaintext, SYMMETRIC_DEFAULT);
    } catch (dev.keyhold.pkcs11.InvalidCiphertextException e) { // the HSM's verdict on the tag
      throw invalidCiphertext();
    } catch (Pkcs11Exception e) {
      KmsException failure = failureOf(key, e);
      throw failure.type() == NotFoundException ? invalidCiphertext() : failure; // as for a key never seen
    }
  }

  /**
   * The key id a ciphertext blob names in its header, read without decrypting, so that a caller's
   * right to the key can be checked before the HSM sees the blob; empty if it is no Keyhold ciphertext.
   */
  public Optional<String> keyIdOf(byte[] ciphertextBlob) {
    return ciphertextBlob == null ? Optional.empty() : Ciphertext.parse(ciphertextBlob).map(Ciphertext.Parsed::keyId);
  }

  /**
   * ReEncrypt: decrypts under the source key and encrypts under the destination key, both inside
   * their HSMs; the plaintext exists in this process only between the two calls.
   */
  public ReEncryptResponse reEncrypt(ReEncryptRequest request) {
    KeyRecord destination = keys.resolve(required(request.destinationKeyId(), "destinationKeyId"));
    DecryptResponse source = decrypt(new DecryptRequest(
        request.ciphertextBlob(), request.sourceEncryptionContext(), request.sourceKeyId(), null));
    byte[] plaintext = source.plaintext();
    try {
      byte[] blob = seal(destination, plaintext, request.destinationEncryptionContext());
      return new ReEncryptResponse(blob, source.keyId(), destination.arn());
    } finally {
      Arrays.fill(plaintext, (byte) 0);
    }
  }

  /**
   * GenerateRandom: 1 to 1024 bytes from the HSMs of {@code customKeyStoreId} when given (the store
   * must be CONNECTED), else from this process's DRBG.
   */
  public byte[] generateRandom(Integer numberOfBytes, String customKeyStoreId) {
    if (numberOfBytes == null) {
      throw new KmsException(ValidationException, "NumberOfBytes is required.");
    }
    int length = range(numberOfBytes, "numberOfBytes", 1, 1024);
    if (customKeyStoreId == null) {
      byte[] random = new byte[length];
      RANDOM.nextBytes(random);
      return random;
    }
    ConnectedStore logins = keys.connectedStore(customKeyStoreId);
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
    return generate(request, true);
  }

  public GenerateDataKeyResponse generateDataKeyWithoutPlaintext(GenerateDataKeyRequest request) {
    return generate(request, false);
  }

  private GenerateDataKeyResponse generate(GenerateDataKeyRequest request, boolean withPlaintext) {
    int length = dataKeyLength(request.keySpec(), request.numberOfBytes());
    KeyRecord key = keys.resolve(required(request.keyId(), "keyId"));
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

  private byte[] seal(KeyRecord key, byte[] plaintext, Map<String, String> context) {
    byte[] header = Ciphertext.header(key.keyId(), key.keyStoreId());
    byte[] aad = Ciphertext.associatedData(header, EncryptionContext.canonical(context));
    byte[] body;
    try {
      Bound bound = bound(key);
      body = onAnyHsm(key, bound.logins, (index, hsm) -> bound.aeads[index].encrypt(plaintext, aad));
    } catch (Pkcs11Exception e) {
      throw failureOf(key, e);
    }
    byte[] blob = Arrays.copyOf(header, header.length + body.length);
    System.arraycopy(body, 0, blob, header.length, body.length);
    return blob;
  }

  /** The key's AES-GCM on each HSM of the store's current logins, checking that the key may be used. */
  private Bound bound(KeyRecord key) {
    ConnectedStore logins = usable(key);
    Bound bound = aeads.get(key.keyId());
    if (bound == null || bound.logins != logins) {
      AesKey material = AesKey.of(key.arn(), KmsKeys.idBytes(key.keyId()));
      bound = new Bound(logins, logins.hsms().stream().map(hsm -> hsm.token().aesGcm(material)).toArray(Aead[]::new));
      aeads.put(key.keyId(), bound);
    }
    return bound;
  }

  /** {@code call} on whichever HSM of the store answers first ({@link Failover}). */
  private static <T> T onAnyHsm(KeyRecord key, ConnectedStore logins, Failover.HsmCall<T> call) {
    return Failover.run(logins, call)
        .orElseThrow(() -> new KmsException(KMSInvalidStateException, key.arn() + " is unavailable."));
  }

  private ConnectedStore usable(KeyRecord key) {
    switch (key.state()) {
      case Disabled -> throw new KmsException(DisabledException, key.arn() + " is disabled.");
      case PendingDeletion -> throw new KmsException(KMSInvalidStateException, key.arn() + " is pending deletion.");
      default -> { }
    }
    return connections.connected(key.keyStoreId())
        .orElseThrow(() -> new KmsException(KMSInvalidStateException, key.arn() + " is unavailable."));
  }

  private static int dataKeyLength(String keySpec, Integer numberOfBytes) {
    if ((keySpec == null) == (numberOfBytes == null)) {
      throw new KmsException(ValidationException, "Please specify either number of bytes or key spec.");
    }
    if (numberOfBytes != null) {
      return range(numberOfBytes, "numberOfBytes", 1, 1024);
    }
    return switch (keySpec) {
      case "AES_256" -> 32;
      case "AES_128" -> 16;
      default -> throw new KmsException(ValidationException, "1 validation error detected: Value '" + keySpec
          + "' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]");
    };
  }

  private static void checkPlaintextLength(int length) {
    if (length < 1 || length > MAX_PLAINTEXT) {
      throw new KmsException(ValidationException, "1 validation error detected: Value at 'plaintext' failed to "
          + "satisfy constraint: Member must have length " + (length < 1
              ? "greater than or equal to 1" : "less than or equal to " + MAX_PLAINTEXT));
    }
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
  private KmsException failureOf(KeyRecord key, Pkcs11Exception e) {
    aeads.remove(key.keyId());
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

  /** The key's {@link Aead} on each HSM, in the order of {@link ConnectedStore#hsms()}, and those logins. */
  private record Bound(ConnectedStore logins, Aead[] aeads) {}
}
