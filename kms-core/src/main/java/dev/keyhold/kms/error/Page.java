package dev.keyhold.kms.error;

import static dev.keyhold.kms.error.KmsErrorType.InvalidMarkerException;

import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * One page of a listing with AWS's Limit and Marker: the Marker is the name of the first item of the
 * next page, and one that names no item is {@code InvalidMarkerException}.
 *
 * @param nextMarker present exactly when {@code truncated}
 */
public record Page<T>(List<T> items, Optional<String> nextMarker, boolean truncated) {
  public Page {
    items = List.copyOf(items);
  }

  /** The page of {@code all} (in listing order) that starts at {@code marker}, or at the top. */
  public static <T> Page<T> of(List<T> all, Function<T, String> name, int limit, String marker) {
    int start = 0;
    if (marker != null) {
      start = all.stream().map(name).toList().indexOf(marker);
      if (start < 0) {
        throw new KmsException(InvalidMarkerException, "The marker " + marker + " is not valid.");
      }
    }
    int end = Math.min(all.size(), start + limit);
    boolean truncated = end < all.size();
    return new Page<>(all.subList(start, end), truncated ? Optional.of(name.apply(all.get(end))) : Optional.empty(),
        truncated);
  }
}
