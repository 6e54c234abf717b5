package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkArgument;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A scrape of {@link ServiceMetrics}, parsed back line by line from the Prometheus text format. */
record Exposition(ImmutableList<String> comments, ImmutableList<Sample> samples) {
  private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})? (\\S+)");
  private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\",?");

  record Sample(String name, ImmutableMap<String, String> labels, double value) {}

  /** Scrapes {@code metrics}; fails on any line that is neither a comment nor a sample. */
  static Exposition scrape(ServiceMetrics metrics) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    metrics.writeTo(out);
    ImmutableList.Builder<String> comments = ImmutableList.builder();
    ImmutableList.Builder<Sample> samples = ImmutableList.builder();
    for (String line : out.toString(UTF_8).lines().toList()) {
      if (line.startsWith("# ")) {
        comments.add(line);
        continue;
      }
      Matcher sample = SAMPLE.matcher(line);
      checkArgument(sample.matches(), "not a sample: %s", line);
      samples.add(new Sample(sample.group(1), labels(line, sample.group(2)), value(sample.group(3))));
    }
    return new Exposition(comments.build(), samples.build());
  }

  /** The value of the one sample named {@code name} with exactly {@code labels}, if there is one. */
  OptionalDouble value(String name, Map<String, String> labels) {
    List<Sample> matching = samples.stream()
        .filter(sample -> sample.name().equals(name) && sample.labels().equals(labels))
        .toList();
    checkArgument(matching.size() <= 1, "several samples %s%s", name, labels);
    return matching.isEmpty() ? OptionalDouble.empty() : OptionalDouble.of(matching.get(0).value());
  }

  /** The samples named {@code name}. */
  List<Sample> named(String name) {
    return samples.stream().filter(sample -> sample.name().equals(name)).toList();
  }

  private static ImmutableMap<String, String> labels(String line, String text) {
    ImmutableMap.Builder<String, String> labels = ImmutableMap.builder();
    if (text != null) {
      Matcher label = LABEL.matcher(text);
      int end = 0;
      while (label.find() && label.start() == end) {
        labels.put(label.group(1), label.group(2));
        end = label.end();
      }
      checkArgument(end == text.length(), "malformed labels: %s", line);
    }
    return labels.buildOrThrow();
  }

  private static double value(String text) {
    return switch (text) {
      case "+Inf" -> Double.POSITIVE_INFINITY;
      case "-Inf" -> Double.NEGATIVE_INFINITY;
      default -> Double.parseDouble(text);
    };
  }
}
