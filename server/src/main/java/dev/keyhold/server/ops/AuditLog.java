package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import dev.keyhold.kms.secret.MasterKey;
import java.io.Closeable;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
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
 *  "operation":"Encrypt","keyArn":"arn:aws:kms:...","encryptionContextKeys":["purpose"],
 *  "outcome":"success","httpStatus":200,"durationMillis":1.234}
 * }</pre>
 *
 * {@code time} is ISO-8601 in UTC; {@code principal} and {@code keyArn} are null when there is none;
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
 * reaches the operating system in one write as its request is answered: a crash of the service loses
 * none, and writers never interleave within a line, in this process or another appending to the same
 * file. One process writes a file: another's lines would break its chain (each node of a service has
 * its own file). A line is not forced to disk: a sync per request would cost more than the request.
 *
 * <p>A write that fails never fails the request (a request that cannot be audited has already been
 * served): the first failure is logged, and every one counted in {@link #writeFailures()}.
 *
 * <p>Thread-safe.
 */
public final class AuditLog implements RequestObserver, Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
  private static final ObjectWriter JSON = new ObjectMapper().writerFor(Line.class);

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
      sink.write(JSON.writeValueAsString(Line.of(outcome)));
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

  /** The JSON of one line; its components are the documented fields, in order. */
  private record Line(
      String time,
      String requestId,
      String principal,
      String operation,
      String keyArn,
      List<String> encryptionContextKeys,
      String outcome,
      int httpStatus,
      BigDecimal durationMillis) {
    static Line of(RequestOutcome outcome) {
      return new Line(
          outcome.time().toString(),
          outcome.requestId(),
          outcome.principalArn().orElse(null),
          outcome.operation(),
          outcome.keyArn().orElse(null),
          outcome.encryptionContextKeys(),
          outcome.outcomeName(),
          outcome.httpStatus(),
          // Exact to the microsecond, with no binary-fraction noise such as 1.2340000000000002.
          BigDecimal.valueOf(TimeUnit.NANOSECONDS.toMicros(outcome.durationNanos()), 3));
    }
  }
}
