package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.Closeable;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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
 * <p>Lines go to a file, or, without one, to the SLF4J logger {@code keyhold.audit}. A file is
 * appended to and, when this creates it, readable by its owner only (0600). Each line reaches the
 * operating system in one write as its request is answered: a crash of the service loses none, and
 * writers never interleave within a line, in this process or another appending to the same file. A
 * line is not forced to disk: a sync per request would cost more than the request.
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

  /** Appends to {@code file}, creating it with mode 0600 if absent. */
  public static AuditLog toFile(Path file) throws IOException {
    checkNotNull(file, "file");
    try {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (FileAlreadyExistsException e) {
      // Appended to as it is: it holds no secret.
    }
    // A FileOutputStream, not a FileChannel: a channel closes for good when a thread writing to it is
    // interrupted, which would end auditing for every later request.
    return new AuditLog(new FileSink(new FileOutputStream(file.toFile(), true)));
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
      if (writeFailures.getAndIncrement() == 0) {
        LOG.error("cannot write the audit log; requests go on, and later failures are only counted", e);
      }
    }
  }

  /** How many lines could not be written. */
  public long writeFailures() {
    return writeFailures.get();
  }

  @Override
  public void close() throws IOException {
    sink.close();
  }

  /** Where lines go. */
  private interface Sink extends Closeable {
    void write(String line) throws IOException;

    @Override
    default void close() throws IOException {}
  }

  private static final class FileSink implements Sink {
    private final OutputStream file;

    FileSink(OutputStream file) {
      this.file = file;
    }

    @Override
    public synchronized void write(String line) throws IOException {
      // One write of the whole line: with O_APPEND, the kernel keeps it whole at the end of the file.
      file.write((line + "\n").getBytes(UTF_8));
    }

    @Override
    public synchronized void close() throws IOException {
      file.close();
    }
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
