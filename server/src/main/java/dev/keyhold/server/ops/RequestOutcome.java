package dev.keyhold.server.ops;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * One finished request, for the audit log and the metrics. Never holds plaintext, ciphertext,
 * passwords or data keys: only names.
 *
 * @param principalArn empty when authentication failed
 * @param operation e.g. {@code Encrypt}; {@code unknown} when the target named none or an operation
 *     not served: it labels metrics, so it must come from a fixed set, never from a caller's text
 * @param keyArn the KMS key the request resolved to or created, if any; of ReEncrypt and UpdateAlias, the
 *     destination
 * @param sourceKeyArn of ReEncrypt, the key of the ciphertext; of UpdateAlias, the key the alias left;
 *     else empty
 * @param encryptionContextKeys the keys of the encryption context, never its values
 * @param errorType empty on success, else the {@code __type} sent
 */
public record RequestOutcome(
    Instant time,
    String requestId,
    Optional<String> principalArn,
    String operation,
    Optional<String> keyArn,
    Optional<String> sourceKeyArn,
    List<String> encryptionContextKeys,
    int httpStatus,
    Optional<String> errorType,
    long durationNanos) {
  public RequestOutcome {
    encryptionContextKeys = List.copyOf(encryptionContextKeys);
  }

  /** {@code success}, or the error type: how the audit log and the metrics name the outcome. */
  public String outcomeName() {
    return errorType.orElse("success");
  }
}
