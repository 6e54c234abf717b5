package dev.keyhold.bench;

import dev.keyhold.kms.key.KmsCrypto;
import java.security.SecureRandom;
import java.util.Map;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.DataKeySpec;
import software.amazon.awssdk.services.kms.model.EncryptRequest;
import software.amazon.awssdk.services.kms.model.GenerateDataKeyRequest;

/**
 * The KMS operations {@link HttpKmsBenchmark} drives, each in two ways that ask for the same thing:
 * over HTTP with the AWS SDK, and in process on {@link KmsCrypto}. Every call uses the encryption
 * context {@code {"purpose":"benchmark"}}, as {@link KmsCryptoBenchmark} does.
 *
 * <p>Each request is built once and sent again and again: both clients are thread-safe and the
 * requests immutable, so one call serves every thread, and building a request stays out of the
 * figures on both sides alike.
 */
enum KmsOperation {
  ENCRYPT_32_BYTES("Encrypt 32 B") {
    @Override
    Runnable overHttp(KmsClient client, String keyId) {
      EncryptRequest request = EncryptRequest.builder()
          .keyId(keyId)
          .plaintext(SdkBytes.fromByteArray(PLAINTEXT))
          .encryptionContext(CONTEXT)
          .build();
      return () -> client.encrypt(request);
    }

    @Override
    Runnable inProcess(KmsCrypto crypto, String keyId) {
      dev.keyhold.kms.key.EncryptRequest request =
          new dev.keyhold.kms.key.EncryptRequest(keyId, PLAINTEXT, CONTEXT, null);
      return () -> crypto.encrypt(request);
    }
  },

  GENERATE_DATA_KEY_AES_256("GenerateDataKey AES_256") {
    @Override
    Runnable overHttp(KmsClient client, String keyId) {
      GenerateDataKeyRequest request = GenerateDataKeyRequest.builder()
          .keyId(keyId)
          .keySpec(DataKeySpec.AES_256)
          .encryptionContext(CONTEXT)
          .build();
      return () -> client.generateDataKey(request);
    }

    @Override
    Runnable inProcess(KmsCrypto crypto, String keyId) {
      dev.keyhold.kms.key.GenerateDataKeyRequest request =
          new dev.keyhold.kms.key.GenerateDataKeyRequest(keyId, CONTEXT, DataKeySpec.AES_256.toString(), null);
      return () -> crypto.generateDataKey(request);
    }
  };

  private static final Map<String, String> CONTEXT = Map.of("purpose", "benchmark");
  private static final byte[] PLAINTEXT = randomBytes(32);

  private final String label;

  KmsOperation(String label) {
    this.label = label;
  }

  /** The operation and its input as the figures name it, e.g. {@code Encrypt 32 B}. */
  String label() {
    return label;
  }

  /** One call through {@code client}, which signs as a caller whom the key's policy allows. */
  abstract Runnable overHttp(KmsClient client, String keyId);

  /** The same call on the service's own {@link KmsCrypto}: no HTTP, SigV4, policy or audit. */
  abstract Runnable inProcess(KmsCrypto crypto, String keyId);

  private static byte[] randomBytes(int length) {
    byte[] bytes = new byte[length];
    new SecureRandom().nextBytes(bytes);
    return bytes;
  }
}
