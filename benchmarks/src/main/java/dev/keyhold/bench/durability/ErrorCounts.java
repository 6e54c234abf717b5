package dev.keyhold.bench.durability;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Collectors;
import software.amazon.awssdk.awscore.exception.AwsServiceException;

/**
 * Failed calls counted by operation and error code: the service's {@code __type} when it answered
 * (such as {@code NotFoundException}), else {@code no answer (<cause>)}. Thread-safe.
 */
final class ErrorCounts {
  private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

  void add(String operation, Throwable failure) {
    counts.computeIfAbsent(operation + " " + code(failure), key -> new LongAdder()).increment();
  }

  long total() {
    return counts.values().stream().mapToLong(LongAdder::sum).sum();
  }

  /** {@code "<operation> <code>" -> count}, sorted. */
  Map<String, Long> byCode() {
    return counts.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, entry -> entry.getValue().sum(),
        Long::sum, TreeMap::new));
  }

  @Override
  public String toString() {
    return byCode().entrySet().stream().map(entry -> entry.getKey() + " x" + entry.getValue())
        .collect(Collectors.joining(", "));
  }

  /** What a call ended with, in a word: the service's error code, or why no answer came. */
  static String code(Throwable failure) {
    if (failure instanceof AwsServiceException answered && answered.awsErrorDetails() != null) {
      return answered.awsErrorDetails().errorCode();
    }
    Throwable cause = failure;
    while (cause.getCause() != null && cause.getCause() != cause) {
      cause = cause.getCause();
    }
    return "no answer (" + cause.getClass().getSimpleName() + ")";
  }

  /** Whether the service answered at all: an answer, even an error, is a verdict; a dropped call is not. */
  static boolean answered(Throwable failure) {
    return failure instanceof AwsServiceException;
  }
}
