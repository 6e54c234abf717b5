package dev.keyhold.bench;

import dev.keyhold.kms.key.KmsCrypto;
import java.util.Map;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.DecryptRequest;
import software.amazon.awssdk.services.kms.model.EncryptRequest;
import software.amazon.awssdk.services.kms.model.GenerateDataKeyRequest;

/**
 * The KMS operations the benchmarks drive, each in two ways that ask for the same thing: over HTTP
 * with the AWS SDK, and in process on {@link KmsCrypto}. Every call uses the encryption context
 * {@code {"purpose":"benchmark"}}, as {@link KmsCryptoBenchmark} does.
 *
 * <p>Each request is built once and sent again and again: both clients are thread-safe and the
 * requests immutable, so one call serves every thread, and building a request stays out of the
 * figures on both sides alike. A Decrypt call's ciphertext is made once, by an Encrypt on the same side.
 */
public enum KmsOperation {
  /** Encrypt of a plaintext of the payload's size (AWS KMS takes up to 4096 bytes). */
  ENCRYPT("Encrypt", 4096) {
    @Override
    public Runnable overHttp(KmsClient client, String keyId, byte[] payload) {
      EncryptRequest request = httpEncrypt(keyId, payload);
      return () -> client.encrypt(request);
    }

    @Override
    public Runnable inProcess(KmsCrypto crypto, String keyId, byte[] payload) {
      dev.keyhold.kms.key.EncryptRequest request = encrypt(keyId, payload);
      return () -> crypto.encrypt(request);
    }
  },

  /** Decrypt of the ciphertext of a plaintext of the payload's size. */
  DECRYPT("Decrypt", 4096) {
    @Override
    public Runnable overHttp(KmsClient client, String keyId, byte[] payload) {
      DecryptRequest request = DecryptRequest.builder()
          .keyId(keyId)
          .ciphertextBlob(client.encrypt(httpEncrypt(keyId, payload)).ciphertextBlob())
          .encryptionContext(CONTEXT)
          .build();
      return () -> client.decrypt(request);
    }

    @Override
    public Runnable inProcess(KmsCrypto crypto, String keyId, byte[] payload) {
      dev.keyhold.kms.key.DecryptRequest request = new dev.keyhold.kms.key.DecryptRequest(
          crypto.encrypt(encrypt(keyId, payload)).ciphertextBlob(), CONTEXT, keyId, null);
      return () -> crypto.decrypt(request);
    }
  },

  /** GenerateDataKey of a data key of the payload's size ({@code NumberOfBytes}, 1 to 1024). */
  GENERATE_DATA_KEY("GenerateDataKey", 1024) {
    @Override
    public Runnable overHttp(KmsClient client, String keyId, byte[] payload) {
      GenerateDataKeyRequest request = GenerateDataKeyRequest.builder()
          .keyId(keyId)
          .numberOfBytes(payload.length)
          .encryptionContext(CONTEXT)
          .build();
      return () -> client.generateDataKey(request);
    }

    @Override
    public Runnable inProcess(KmsCrypto crypto, String keyId, byte[] payload) {
      dev.keyhold.kms.key.GenerateDataKeyRequest request =
          new dev.keyhold.kms.key.GenerateDataKeyRequest(keyId, CONTEXT, null, payload.length);
      return () -> crypto.generateDataKey(request);
    }
  };

  private static final Map<String, String> CONTEXT = Map.of("purpose", "benchmark");

  private final String apiName;
  private final int maxPayloadBytes;

  KmsOperation(String apiName, int maxPayloadBytes) {
    this.apiName = apiName;
    this.maxPayloadBytes = maxPayloadBytes;
  }

  /** The operation's name in the AWS KMS API, e.g. {@code Encrypt}. */
  public String apiName() {
    return apiName;
  }

  /** The operation and its input as the figures name it, e.g. {@code Encrypt 32 B}. */
  public String label(int payloadBytes) {
    return apiName + " " + payloadBytes + " B";
  }

  /** The largest payload AWS KMS takes for this operation. */
  public int maxPayloadBytes() {
    return maxPayloadBytes;
  }

  /** One call through {@code client}, which signs as a caller whom the key's policy allows. */
  public abstract Runnable overHttp(KmsClient client, String keyId, byte[] payload);

  /** The same call on the service's own {@link KmsCrypto}: no HTTP, SigV4, policy or audit. */
  public abstract Runnable inProcess(KmsCrypto crypto, String keyId, byte[] payload);

  private static EncryptRequest httpEncrypt(String keyId, byte[] plaintext) {
    return EncryptRequest.builder()
        .keyId(keyId)
        .plaintext(SdkBytes.fromByteArray(plaintext))
        .encryptionContext(CONTEXT)
        .build();
  }

  private static dev.keyhold.kms.key.EncryptRequest encrypt(String keyId, byte[] plaintext) {
    return new dev.keyhold.kms.key.EncryptRequest(keyId, plaintext, CONTEXT, null);
  }
}
