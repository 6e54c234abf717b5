package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.google.common.hash.HashCode;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;

/**
 * One line of a chained audit log, and the format of every line, for the writer ({@link #seal}) and
 * the verifier ({@link #parse}) alike.
 *
 * <p>A line is one JSON object whose last three fields chain it to the line before:
 *
 * <pre>{@code {...,"seq":N,"keyId":"ID","mac":"HEX"}}</pre>
 *
 * N is its sequence number: the first line of a chain has 1, every later one the number of the line
 * before plus one. ID is the {@linkplain AuditKey#id id} of the key that MACs it. HEX, 64 lower-case
 * hex digits, is the HMAC-SHA256 of the MAC of the line before (32 bytes; 32 zero bytes before the
 * first line of a chain) followed by the line's text before {@code ,"mac":} in UTF-8 (its
 * <em>body</em>). So a line's MAC covers every byte of it, and the line before it, and so on back.
 *
 * <p>The log's own lines have the fields {@code time} and {@code event} before the chain's:
 *
 * <ul>
 *   <li>{@code "event":"open"}, written with the first line after a writer opens the file, with
 *       {@code reason}: {@code start} (a new chain: the file holds no chained line), {@code continue}
 *       (after the file's last line: a restart) or {@code rotate} (after the last line of the file
 *       renamed away, in the new file that took its name); and {@code previousMac}, the MAC of the line
 *       it follows, null at {@code start}. A file's first chained line is an open line.
 *   <li>{@code "event":"close"}, the last line a writer writes to a file, when it closes it or finds it
 *       renamed.
 *   <li>{@code "event":"keyChange"}, when the master key was rotated: MACed under the old key, it names
 *       the new key's id, {@code newKeyId}; the lines after it carry that id and are MACed under the new
 *       key. An open line may change the key too: it is MACed under the key of its writer's start.
 * </ul>
 *
 * A later release may add events without changing any of the above.
 */
final class AuditLine {
  static final String OPEN = "open";
  static final String CLOSE = "close";
  static final String KEY_CHANGE = "keyChange";
  private static final String MAC_FIELD = ",\"mac\":\"";
  private static final int MAC_HEX_DIGITS = 64;
  /** {@code ,"mac":"}, the hex, and {@code "}}. */
  private static final int MAC_SUFFIX = MAC_FIELD.length() + MAC_HEX_DIGITS + 2;
  // Two objects run together, {...}{...}, are not a line; nor is a field given twice.
  private static final ObjectMapper STRICT = JsonMapper.builder()
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .build();
  private static final ObjectWriter OPENED = new ObjectMapper().writerFor(Opened.class);
  private static final ObjectWriter CLOSED = new ObjectMapper().writerFor(Closed.class);
  private static final ObjectWriter KEY_CHANGED = new ObjectMapper().writerFor(KeyChanged.class);

  /** A line's place in its chain: its sequence number and MAC. */
  record Link(long seq, HashCode mac) {
    /** Where a chain starts: before its first line. */
    static final Link START = new Link(0, HashCode.fromBytes(new byte[MAC_HEX_DIGITS / 2]));
  }

  /** A line as {@link #seal} made it: its text, without the line break, and its link. */
  record Sealed(String text, Link link) {}

  /** The reason of an open line. */
  enum Opening {
    START,
    CONTINUE,
    ROTATE;

    String jsonName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final String body;
  private final Link link;
  private final String keyId;
  private final JsonNode fields;

  private AuditLine(String body, Link link, String keyId, JsonNode fields) {
    this.body = body;
    this.link = link;
    this.keyId = keyId;
    this.fields = fields;
  }

  /** The line that {@code json}, one JSON object, becomes after the line {@code previous}, under {@code key}. */
  static Sealed seal(String json, Link previous, AuditKey key) {
    checkArgument(json.startsWith("{") && json.endsWith("}"), "not a JSON object");
    long seq = previous.seq() + 1;
    String body = json.substring(0, json.length() - 1) + ",\"seq\":" + seq + ",\"keyId\":\"" + key.id() + "\"";
    HashCode mac = key.mac(previous.mac(), body);
    return new Sealed(body + MAC_FIELD + mac + "\"}", new Link(seq, mac));
  }

  /** The JSON of an open line at {@code time}, for {@code reason}, after the line {@code previous}. */
  static String openJson(Instant time, Opening reason, Link previous) {
    return json(OPENED, new Opened(time.toString(), OPEN, reason.jsonName(),
        reason == Opening.START ? null : previous.mac().toString()));
  }

  /** The JSON of a close line at {@code time}. */
  static String closeJson(Instant time) {
    return json(CLOSED, new Closed(time.toString(), CLOSE));
  }

  /** The JSON of a key change line at {@code time}: the lines after it are MACed under the key {@code newKeyId}. */
  static String keyChangeJson(Instant time, String newKeyId) {
    return json(KEY_CHANGED, new KeyChanged(time.toString(), KEY_CHANGE, newKeyId));
  }

  /**
   * The chained line {@code text} (without its line break) is, if it is one: a JSON object that ends with
   * a sequence number, a key id and a MAC of the right form. Whether the MAC is right is the verifier's
   * question.
   */
  static Optional<AuditLine> parse(String text) {
    int macAt = text.length() - MAC_SUFFIX;
    if (macAt < 1 || !text.startsWith(MAC_FIELD, macAt) || !text.endsWith("\"}")) {
      return Optional.empty();
    }
    HashCode mac;
    JsonNode fields;
    try {
      mac = HashCode.fromString(text.substring(macAt + MAC_FIELD.length(), text.length() - 2));
      fields = STRICT.readTree(text);
    } catch (IllegalArgumentException | JsonProcessingException e) {
      return Optional.empty();
    }
    JsonNode seq = fields.path("seq");
    JsonNode keyId = fields.path("keyId");
    if (!seq.isIntegralNumber() || !seq.canConvertToLong() || seq.asLong() < 1 || !keyId.isTextual()) {
      return Optional.empty();
    }
    return Optional.of(new AuditLine(text.substring(0, macAt), new Link(seq.asLong(), mac), keyId.asText(), fields));
  }

  /**
   * Whether {@code text} is a whole JSON object, chained or not: a line an earlier release wrote, say,
   * rather than the start of one that a crash cut short.
   */
  static boolean isWhole(String text) {
    try {
      JsonNode node = STRICT.readTree(text);
      return node != null && node.isObject();
    } catch (JsonProcessingException e) {
      return false;
    }
  }

  /** The line's text before its {@code mac} field: what the MAC covers, after the line before's MAC. */
  String body() {
    return body;
  }

  Link link() {
    return link;
  }

  String keyId() {
    return keyId;
  }

  /** The reason, if this is an open line whose reason this release knows. */
  Optional<Opening> opening() {
    if (!OPEN.equals(fields.path("event").textValue())) {
      return Optional.empty();
    }
    String reason = fields.path("reason").asText();
    for (Opening opening : Opening.values()) {
      if (opening.jsonName().equals(reason)) {
        return Optional.of(opening);
      }
    }
    return Optional.empty();
  }

  /** The {@code previousMac} of an open line, if it names one of the right form. */
  Optional<HashCode> previousMac() {
    try {
      return Optional.ofNullable(fields.path("previousMac").textValue()).map(HashCode::fromString);
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  boolean isClose() {
    return CLOSE.equals(fields.path("event").textValue());
  }

  /** The id of the key the lines after this one are MACed under, if this is a key change line. */
  Optional<String> newKeyId() {
    return KEY_CHANGE.equals(fields.path("event").textValue())
        ? Optional.ofNullable(fields.path("newKeyId").textValue())
        : Optional.empty();
  }

  private static String json(ObjectWriter writer, Object line) {
    try {
      return writer.writeValueAsString(line);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write an audit line as JSON", e);
    }
  }

  /** The JSON of an open line; its components are its fields, in order. */
  private record Opened(String time, String event, String reason, String previousMac) {}

  /** The JSON of a close line. */
  private record Closed(String time, String event) {}

  /** The JSON of a key change line. */
  private record KeyChanged(String time, String event, String newKeyId) {}
}
