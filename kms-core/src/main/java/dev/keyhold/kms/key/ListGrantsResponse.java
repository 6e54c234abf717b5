package dev.keyhold.kms.key;

import java.util.List;
import java.util.Optional;

/** A page of ListGrants or ListRetirableGrants; {@code nextMarker} is present exactly when {@code truncated}. */
public record ListGrantsResponse(List<GrantListEntry> grants, Optional<String> nextMarker, boolean truncated) {
  public ListGrantsResponse {
    grants = List.copyOf(grants);
  }
}
