package dev.keyhold.server.ops;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/** Request outcomes as the HTTP layer would report them. */
final class Outcomes {
  static final String PRINCIPAL = "arn:aws:iam::111122223333:user/alice";
  static final String KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

  private Outcomes() {}

  /** An Encrypt by {@link #PRINCIPAL} on {@link #KEY_ARN} that succeeded. */
  static RequestOutcome encrypt(String requestId, List<String> contextKeys, Duration took) {
    return new RequestOutcome(Instant.parse("2025-01-02T03:04:05.678901Z"), requestId, Optional.of(PRINCIPAL),
        "Encrypt", Optional.of(KEY_ARN), Optional.empty(), contextKeys, 200, Optional.empty(), took.toNanos());
  }

  /** {@code operation} by an unauthenticated caller, answered with {@code errorType}. */
  static RequestOutcome failed(String operation, String errorType, int httpStatus, Duration took) {
    return new RequestOutcome(Instant.parse("2025-01-02T03:04:06Z"), "request-failed", Optional.empty(),
        operation, Optional.empty(), Optional.empty(), List.of(), httpStatus, Optional.of(errorType), took.toNanos());
  }
}
