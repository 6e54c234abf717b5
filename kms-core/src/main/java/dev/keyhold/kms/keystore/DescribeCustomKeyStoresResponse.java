package dev.keyhold.kms.keystore;

import java.util.List;
import java.util.Optional;

/** A page of key stores; {@code nextMarker} is present exactly when {@code truncated}. */
public record DescribeCustomKeyStoresResponse(
    List<CustomKeyStoresListEntry> customKeyStores, Optional<String> nextMarker, boolean truncated) {

  public DescribeCustomKeyStoresResponse {
    customKeyStores = List.copyOf(customKeyStores);
  }
}
