package dev.keyhold.bench.durability;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads the service's {@code audit.log} as it grows, a segment at a time (what was appended since the
 * last read), and checks that every line is whole: one JSON object with exactly the fields that
 * {@code dev.keyhold.server.ops.AuditLog} documents, in its order, its time an ISO-8601 instant and
 * its status a number, then the chain's fields; or one of the log's own lines (an {@code event}: open,
 * close) ending with the chain's fields. A segment that does not end in a newline ends in a torn line.
 * Also gathers the request ids of the requests audited as successful, to check that every acknowledged
 * request was audited. Whether the chain holds is {@code AuditLogVerifier}'s question. Not
 * thread-safe: one reader reads between incarnations of the service.
 */
final class AuditLines {
  /** {@code AuditLog.Line}'s components, in order, then the chain's fields ({@code AuditLine}). */
  static final List<String> FIELDS = List.of("time", "requestId", "principal", "operation", "keyArn",
      "sourceKeyArn", "encryptionContextKeys", "outcome", "httpStatus", "durationMillis", "seq", "keyId", "mac");
  private static final List<String> CHAIN = FIELDS.subList(FIELDS.size() - 3, FIELDS.size());
  // Two lines run together, {...}{...}, are one torn line, not the first of them.
  private static final ObjectMapper JSON =
      JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();
  private static final int SHOWN = 120;

  private final Path file;
  private final Map<String, String> successes = new HashMap<>();
  private final List<String> torn = new ArrayList<>();
  private long offset;
  private long lines;

  /** Reads what is appended to {@code file} from now on: the lines of earlier runs are theirs. */
  AuditLines(Path file) throws IOException {
    this.file = file;
    this.offset = Files.exists(file) ? Files.size(file) : 0;
  }

  /** What one read found. {@code torn} holds each torn line's number and its start. */
  record Segment(long lines, List<String> torn) {}

  /** Reads and checks what was appended since the last call. */
  Segment next() throws IOException {
    byte[] appended;
    try (InputStream in = Files.newInputStream(file)) {
      in.skipNBytes(offset);
      appended = in.readAllBytes();
    } catch (NoSuchFileException none) {
      return new Segment(0, List.of());
    }
    offset += appended.length;
    String text = new String(appended, UTF_8);
    List<String> segmentTorn = new ArrayList<>();
    long before = lines;
    int start = 0;
    while (start < text.length()) {
      int end = text.indexOf('\n', start);
      boolean ended = end >= 0;
      String line = text.substring(start, ended ? end : text.length());
      lines++;
      if (!ended || !whole(line)) {
        String shown = line.length() > SHOWN ? line.substring(0, SHOWN) + "..." : line;
        segmentTorn.add("line " + lines + " of this run" + (ended ? "" : " (no newline)") + ": " + shown);
      }
      start = ended ? end + 1 : text.length();
    }
    torn.addAll(segmentTorn);
    return new Segment(lines - before, segmentTorn);
  }

  /** Every line read so far. */
  long lines() {
    return lines;
  }

  /** Every torn line read so far. */
  List<String> torn() {
    return List.copyOf(torn);
  }

  /** Whether a line read so far audits the request {@code requestId} as a successful {@code operation}. */
  boolean auditsSuccess(String requestId, String operation) {
    return operation.equals(successes.get(requestId));
  }

  private boolean whole(String line) {
    JsonNode node;
    try {
      node = JSON.readTree(line);
    } catch (IOException e) {
      return false;
    }
    if (node == null || !node.isObject()) {
      return false;
    }
    List<String> names = fieldNames(node);
    if (node.has("event")) {
      return names.size() >= 2 + CHAIN.size() && names.subList(0, 2).equals(List.of("time", "event"))
          && names.subList(names.size() - CHAIN.size(), names.size()).equals(CHAIN);
    }
    if (!names.equals(FIELDS)) {
      return false;
    }
    try {
      Instant.parse(node.get("time").asText());
    } catch (DateTimeParseException e) {
      return false;
    }
    if (!node.get("httpStatus").isInt() || !node.get("durationMillis").isNumber()) {
      return false;
    }
    if (node.get("outcome").asText().equals("success")) {
      successes.put(node.get("requestId").asText(), node.get("operation").asText());
    }
    return true;
  }

  private static List<String> fieldNames(JsonNode node) {
    List<String> names = new ArrayList<>();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      names.add(it.next());
    }
    return names;
  }
}
