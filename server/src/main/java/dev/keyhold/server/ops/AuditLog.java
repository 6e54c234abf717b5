package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.keyhold.kms.secret.MasterKey;
import java.io.Closeable;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The audit log: one JSON object per line for each answered request, saying who asked for what, on
 * which key, and how it ended. The fields, always all of them:
 *
 * <pre>{@code
 * {"time":"2025-01-02T03:04:05.678901Z","requestId":"...","principal":"arn:aws:iam::111122223333:user/alice",
 *  "operation":"Encrypt","keyArn":"arn:aws:kms:...","sourceKeyArn":null,"encryptionContextKeys":["purpose"],
 *  "outcome":"success","httpStatus":200,"durationMillis":1.234}
 * }</pre>
 *
 * {@code time} is ISO-8601 in UTC, to the microsecond; {@code principal}, {@code keyArn} and {@code
 * sourceKeyArn} are null when there is none; {@code keyArn} names the key the request used or created
 * (of ReEncrypt and UpdateAlias, the destination), {@code sourceKeyArn} the other key of those two;
 * {@code outcome} is {@code success} or the error type sent. A line is built from a {@link
 * RequestOutcome} alone, which holds names only, so no plaintext, ciphertext, password or data key can
 * reach it; Jackson escapes control characters, so caller-given text (context keys) cannot break a
 * line or forge one.
 *
 * <p>Lines go to a file, or, without one, to the SLF4J logger {@code keyhold.audit}. In a file, every
 * line also ends with {@code "seq"}, {@code "keyId"} and {@code "mac"}: an HMAC-SHA256, under a key
 * derived from the master key, of the line and of the line before, so that a line removed, moved or
 * changed shows ({@link AuditLogVerifier}); the file holds lines of its own besides, where a writer
 * opens and closes it, and where it follows a rotation of the master key. {@code AuditLine} defines the format, {@code ChainedFile} the file's handling
 * (restarts, lines a crash cut short, renaming by logrotate). Lines to the logger are not chained.
 *
 * <p>A file is appended to and, when this creates it, readable by its owner only (0600). Each line
 * reaches the operating system before its request is answered: a crash of the service loses none.
 * Lines are written whole, in one write each, or several in one write when their requests finish
 * together (a writer that finds another writing queues its line, and the next to write takes every
 * queued line); the queue holds at most a line per answering thread, and a slow disk holds the
 * answers back rather than dropping a line. Writers never interleave within a line, in this process
 * or another appending to the same file. One process writes a file: another's lines would break its chain (each node of a service has
 * its own file). A line is not forced to disk: a sync per request would cost more than the request.
 *
 * <p>A write that fails never fails the request (a request that cannot be audited has already been
 * served): the first failure is logged, and every one counted in {@link #writeFailures()}.
 *
 * <p>Thread-safe.
 */
public final class AuditLog implements RequestObserver, Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
  private static final JsonFactory JSON = new JsonFactory();
  /** Each thread's line buffer and clock text: every answered request writes a line. */
  private static final ThreadLocal<LineWriter> LINE_WRITER = ThreadLocal.withInitial(LineWriter::new);

  private final Sink sink;
  private final AtomicLong writeFailures = new AtomicLong();

  private AuditLog(Sink sink) {
    this.sink = sink;
  }

  /**
   * Appends to {@code file}, creating it with mode 0600 if absent, its lines chained under the audit
   * key that {@code masterKey} derives, and following its rotations. The chain goes on after the file's
   * last line.
   *
   * @throws IOException if the file cannot be opened, or its end read
   */
  public static AuditLog toFile(Path file, MasterKey masterKey) throws IOException {
    checkNotNull(file, "file");
    checkNotNull(masterKey, "masterKey");
    return new AuditLog(ChainedFile.open(file, () -> AuditKey.current(masterKey), Clock.systemUTC()));
  }

  /**
   * Logs each line at INFO to the SLF4J logger {@code keyhold.audit}, for the logging setup to route;
   * that setup must let this logger's INFO through.
   */
  public static AuditLog toLogger() {
    return new AuditLog(LoggerFactory.getLogger("keyhold.audit")::info);
  }

  @Override
  public void completed(RequestOutcome outcome) {
    try {
      sink.write(LINE_WRITER.get().json(outcome));
    } catch (IOException | RuntimeException e) {
      // RuntimeException too: an observer must not throw into the request it observes.
      failed(e);
    }
  }

  private void failed(Exception e) {
    if (writeFailures.getAndIncrement() == 0) {
      LOG.error("cannot write the audit log; requests go on, and later failures are only counted", e);
    }
  }

  /** How many lines could not be written. */
  public long writeFailures() {
    return writeFailures.get();
  }

  /** Ends the log (a file's close line; a failure to write it is counted as any other), and closes it. */
  @Override
  public void close() throws IOException {
    try {
      sink.finish();
    } catch (IOException | RuntimeException e) {
      failed(e);
    }
    sink.close();
  }

  /** Where lines go. */
  interface Sink extends Closeable {
    /** Writes the line {@code json}, one JSON object. */
    void write(String json) throws IOException;

    /** Writes what ends the log, before it is closed. */
    default void finish() throws IOException {}

    @Override
    default void close() throws IOException {}
  }

  /**
   * Writes lines with Jackson's streaming generator, which escapes every string, into a buffer the
   * thread keeps; the date and time to the second are formatted once per second.
   */
  private static final class LineWriter {
    private final StringWriter buffer = new StringWriter(512);
    private long second = Long.MIN_VALUE;
    private String secondText;

    /** The line of {@code outcome}: the documented fields, in order. */
    String json(RequestOutcome outcome) throws IOException {
      buffer.getBuffer().setLength(0);
      try (JsonGenerator line = JSON.createGenerator(buffer)) {
        line.writeStartObject();
        line.writeStringField("time", time(outcome.time()));
        line.writeStringField("requestId", outcome.requestId());
        line.writeStringField("principal", outcome.principalArn().orElse(null));
        line.writeStringField("operation", outcome.operation());
        line.writeStringField("keyArn", outcome.keyArn().orElse(null));
        line.writeStringField("sourceKeyArn", outcome.sourceKeyArn().orElse(null));
        line.writeArrayFieldStart("encryptionContextKeys");
        for (String key : outcome.encryptionContextKeys()) {
          line.writeString(key);
        }
        line.writeEndArray();
        line.writeStringField("outcome", outcome.outcomeName());
        line.writeNumberField("httpStatus", outcome.httpStatus());
        // Exact to the microsecond, with no binary-fraction noise such as 1.2340000000000002.
        long micros = TimeUnit.NANOSECONDS.toMicros(outcome.durationNanos());
        line.writeFieldName("durationMillis");
        line.writeNumber(micros / 1000 + "." + threeDigits(micros % 1000));
        line.writeEndObject();
      }
      return buffer.toString();
    }

    private String time(Instant time) {
      if (time.getEpochSecond() != second) {
        second = time.getEpochSecond();
        secondText = DateTimeFormatter.ISO_LOCAL_DATE_TIME.format(LocalDateTime.ofEpochSecond(second, 0, ZoneOffset.UTC));
      }
      int micros = time.getNano() / 1000;
      return secondText + "." + threeDigits(micros / 1000) + threeDigits(micros % 1000) + "Z";
    }

    private static String threeDigits(long value) {
      return value < 10 ? "00" + value : value < 100 ? "0" + value : Long.toString(value);
    }
  }
}
