package dev.keyhold.kms.key;

import java.util.List;
import java.util.Optional;

/** A page of ListResourceTags; {@code nextMarker} is present exactly when {@code truncated}. */
public record ListResourceTagsResponse(List<Tag> tags, Optional<String> nextMarker, boolean truncated) {
  public ListResourceTagsResponse {
    tags = List.copyOf(tags);
  }
}
