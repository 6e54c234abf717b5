package dev.keyhold.kms.key;

import java.util.List;
import java.util.Optional;

/** A page of ListKeys: key ids and ARNs; {@code nextMarker} is present exactly when {@code truncated}. */
public record ListKeysResponse(List<Entry> keys, Optional<String> nextMarker, boolean truncated) {
  public ListKeysResponse {
    keys = List.copyOf(keys);
  }

  /** One key of the page. */
  public record Entry(String keyId, String keyArn) {}
}
