package dev.keyhold.kms.key;

import java.util.List;
import java.util.Optional;

/** A page of ListAliases; {@code nextMarker} is present exactly when {@code truncated}. */
public record ListAliasesResponse(List<AliasListEntry> aliases, Optional<String> nextMarker, boolean truncated) {
  public ListAliasesResponse {
    aliases = List.copyOf(aliases);
  }
}
