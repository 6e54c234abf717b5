package dev.keyhold.bench.durability;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.DecryptResponse;
import software.amazon.awssdk.services.kms.model.KeyListEntry;
import software.amazon.awssdk.services.kms.model.KeyState;
import software.amazon.awssdk.services.kms.model.ListKeysResponse;

/**
 * Whether what a service acknowledged is still there, asked through the KMS API as any client would:
 * a key must be in ListKeys, Enabled in DescribeKey, and usable by Encrypt; a ciphertext must
 * decrypt to its plaintext under its key. Each check ends in a {@link Finding}: whole, lost (the
 * service answered, and the answer is not what was acknowledged), or undecided (no answer came, as
 * when the service was killed meanwhile).
 */
final class KeyChecks {
  /** ListKeys' largest page. */
  private static final int PAGE = 1000;
  private static final SdkBytes PROBE = SdkBytes.fromUtf8String("still here?");

  private KeyChecks() {}

  enum Verdict { WHOLE, LOST, UNDECIDED }

  /** A check's verdict and, unless whole, what was wrong. */
  record Finding(Verdict verdict, String detail) {
    static final Finding WHOLE = new Finding(Verdict.WHOLE, "");

    static Finding lost(String detail) {
      return new Finding(Verdict.LOST, detail);
    }

    /** Lost when the service answered {@code failure}, undecided when it did not answer. */
    static Finding of(String operation, SdkException failure) {
      String detail = operation + ": " + ErrorCounts.code(failure) + ": " + failure.getMessage();
      return new Finding(ErrorCounts.answered(failure) ? Verdict.LOST : Verdict.UNDECIDED, detail);
    }
  }

  /** Every key id ListKeys gives, page by page (Marker); a call that fails ends the listing with its exception. */
  static Set<String> listKeyIds(KmsClient client) {
    Set<String> ids = new HashSet<>();
    String marker = null;
    do {
      String page = marker;
      ListKeysResponse response = client.listKeys(request -> request.limit(PAGE).marker(page));
      response.keys().stream().map(KeyListEntry::keyId).forEach(ids::add);
      marker = Boolean.TRUE.equals(response.truncated()) ? response.nextMarker() : null;
    } while (marker != null);
    return ids;
  }

  /** DescribeKey says Enabled and an Encrypt under the key succeeds. */
  static Finding checkKey(KmsClient client, String keyId) {
    try {
      KeyState state = client.describeKey(request -> request.keyId(keyId)).keyMetadata().keyState();
      if (state != KeyState.ENABLED) {
        return Finding.lost("DescribeKey: state " + state);
      }
    } catch (SdkException e) {
      return Finding.of("DescribeKey", e);
    }
    try {
      client.encrypt(request -> request.keyId(keyId).plaintext(PROBE));
      return Finding.WHOLE;
    } catch (SdkException e) {
      return Finding.of("Encrypt", e);
    }
  }

  /** Decrypt, with the context it was made under, gives back {@code plaintext} and names {@code keyId}. */
  static Finding checkCiphertext(KmsClient client, String keyId, SdkBytes ciphertext, SdkBytes plaintext,
      Map<String, String> context) {
    DecryptResponse response;
    try {
      response = client.decrypt(request -> request.keyId(keyId).ciphertextBlob(ciphertext)
          .encryptionContext(context));
    } catch (SdkException e) {
      return Finding.of("Decrypt", e);
    }
    if (!Arrays.equals(response.plaintext().asByteArrayUnsafe(), plaintext.asByteArrayUnsafe())) {
      return Finding.lost("Decrypt: another plaintext came back");
    }
    // AWS answers with the key's ARN.
    if (response.keyId() == null || !response.keyId().endsWith(keyId)) {
      return Finding.lost("Decrypt: answered for key " + response.keyId());
    }
    return Finding.WHOLE;
  }
}
