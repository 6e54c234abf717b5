package dev.keyhold.server.ops;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The audit log's file, each line chained to the one before ({@link AuditLine}).
 *
 * <p>Opening the file reads its end: the chain goes on after its last chained line, passing over a
 * line a crash cut short (the next write starts with a line break, so that line stays a line of its
 * own). The first write after an opening starts with an open line; {@link #finish} writes a close
 * line. A write that fails leaves the file in a state unknown here, so the next write opens the file
 * again and reads its end afresh.
 *
 * <p>At most once a second, a write checks that the path still names the file it writes: when an
 * operator (logrotate) renamed it, the old file gets its close line and the path's file, created
 * (0600) if there is none, starts with an open line that continues the chain. It also checks the
 * master key: when it was rotated, a key change line, under the old audit key, names the new one, and
 * the lines after it are MACed under the new.
 *
 * <p>Thread-safe: lines are sealed and written under the lock, so the file's order is the chain's.
 * Writers that come while another holds the lock queue their lines, and whoever takes the lock next
 * writes every queued line in one write: under load the lines of many requests cost one system
 * call. A writer returns once its own line is written (or its write failed), so a line is in the
 * file before its request is answered, and the queue holds at most one line per writing thread.
 */
final class ChainedFile implements AuditLog.Sink {
  private static final long CHECKED_EVERY_NANOS = TimeUnit.SECONDS.toNanos(1);
  private static final int CHUNK = 8192;

  private final Path path;
  private final Supplier<AuditKey> currentKey;
  private final Clock clock;

  /** The key lines are MACed under. */
  @GuardedBy("this")
  private AuditKey key;

  /** The key of a master key rotation, for the key change line the next write starts with; or null. */
  @GuardedBy("this")
  private AuditKey nextKey;

  /** Null after a failed write, until the next one opens the file again. */
  @GuardedBy("this")
  private OutputStream out;

  @GuardedBy("this")
  private Object fileKey;

  /** The last line this writer wrote, or found at the end of the file it opened. */
  @GuardedBy("this")
  private AuditLine.Link last;

  /** The reason of the open line the next write starts with; null once it is written. */
  @GuardedBy("this")
  private AuditLine.Opening opening;

  @GuardedBy("this")
  private boolean endsMidLine;

  @GuardedBy("this")
  private long nextCheck;

  @GuardedBy("this")
  private boolean closed;

  /** Lines handed to {@link #write} and not written yet, in the order they came. */
  private final Queue<Queued> queued = new ConcurrentLinkedQueue<>();

  private ChainedFile(Path path, Supplier<AuditKey> currentKey, Clock clock) {
    this.path = path;
    this.currentKey = currentKey;
    this.clock = clock;
  }

  /**
   * Opens the file at {@code path}, creating it (0600) if absent, to chain lines under the key that
   * {@code currentKey} gives, asked again at every check.
   */
  static ChainedFile open(Path path, Supplier<AuditKey> currentKey, Clock clock) throws IOException {
    ChainedFile file = new ChainedFile(path, currentKey, clock);
    synchronized (file) {
      file.key = currentKey.get();
      file.openPath(Optional.empty());
    }
    return file;
  }

  @Override
  public void write(String json) throws IOException {
    Queued line = new Queued(json);
    queued.add(line);
    synchronized (this) {
      if (!line.written) {
        writeQueued();
      }
    }
    if (line.failure != null) {
      throw line.failure;
    }
  }

  /** Writes every queued line, in one write, or fails them all. */
  @GuardedBy("this")
  private void writeQueued() {
    List<Queued> batch = new ArrayList<>();
    List<String> jsons = new ArrayList<>();
    for (Queued line = queued.poll(); line != null; line = queued.poll()) {
      batch.add(line);
      jsons.add(line.json);
    }
    try {
      prepareToWrite();
      append(jsons);
    } catch (IOException e) {
      batch.forEach(line -> line.failure = e);
    } catch (RuntimeException e) {
      batch.forEach(line -> line.failure = new IOException("the audit log " + path + " cannot be written", e));
    } finally {
      batch.forEach(line -> line.written = true);
    }
  }

  @GuardedBy("this")
  private void prepareToWrite() throws IOException {
    if (closed) {
      throw new IOException("the audit log " + path + " is closed");
    }
    if (out != null && checkDue()) {
      followMasterKey();
      if (!pathNamesTheOpenFile()) {
        leaveRenamedFile();
      }
    }
    if (out == null) {
      // A chain that has begun goes on in whatever file the path names now.
      openPath(last.seq() > 0 ? Optional.of(last) : Optional.empty());
    }
  }

  /** A line handed to {@link #write}; its fields are set under the file's lock, and read after it. */
  private static final class Queued {
    final String json;
    boolean written;
    IOException failure;

    Queued(String json) {
      this.json = json;
    }
  }

  /** Writes the close line. */
  @Override
  public synchronized void finish() throws IOException {
    write(AuditLine.closeJson(clock.instant()));
  }

  @Override
  public synchronized void close() throws IOException {
    closed = true;
    if (out != null) {
      OutputStream open = out;
      out = null;
      open.close();
    }
  }

  /**
   * Opens the file the path names now and reads its end. {@code carried} is the last line written to the
   * file the path named before, which a file without a chained line of its own continues.
   */
  @GuardedBy("this")
  private void openPath(Optional<AuditLine.Link> carried) throws IOException {
    try {
      Files.createFile(path, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (FileAlreadyExistsException e) {
      // Appended to as it is: it holds no secret.
    }
    // A FileOutputStream, not a FileChannel: a channel closes for good when a thread writing to it is
    // interrupted, which would end auditing for every later request.
    FileOutputStream stream = new FileOutputStream(path.toFile(), true);
    Tail tail;
    try {
      fileKey = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
      tail = Tail.of(path);
    } catch (IOException | RuntimeException e) {
      stream.close();
      throw e;
    }
    if (tail.last().isPresent()) {
      last = tail.last().get();
      opening = AuditLine.Opening.CONTINUE;
    } else if (carried.isPresent()) {
      last = carried.get();
      opening = AuditLine.Opening.ROTATE;
    } else {
      last = AuditLine.Link.START;
      opening = AuditLine.Opening.START;
    }
    endsMidLine = tail.endsMidLine();
    out = stream;
    nextCheck = System.nanoTime() + CHECKED_EVERY_NANOS;
    if (nextKey != null) {
      // The open line may change the key itself.
      key = nextKey;
      nextKey = null;
    }
  }

  /**
   * Appends the lines of {@code jsons}, after the open line and the key change line if they are still
   * to write, in one write: the kernel keeps it whole at the end of the file (O_APPEND).
   */
  @GuardedBy("this")
  private void append(List<String> jsons) throws IOException {
    StringBuilder text = new StringBuilder();
    if (endsMidLine) {
      text.append('\n');
    }
    AuditLine.Link link = last;
    AuditKey sealing = key;
    if (opening != null) {
      AuditLine.Sealed open = AuditLine.seal(AuditLine.openJson(clock.instant(), opening, link), link, sealing);
      text.append(open.text()).append('\n');
      link = open.link();
    }
    if (nextKey != null) {
      AuditLine.Sealed change = AuditLine.seal(AuditLine.keyChangeJson(clock.instant(), nextKey.id()), link, sealing);
      text.append(change.text()).append('\n');
      link = change.link();
      sealing = nextKey;
    }
    for (String json : jsons) {
      AuditLine.Sealed line = AuditLine.seal(json, link, sealing);
      text.append(line.text()).append('\n');
      link = line.link();
    }
    try {
      out.write(text.toString().getBytes(UTF_8));
    } catch (IOException e) {
      // What reached the file is unknown: the next write opens it again and reads its end.
      release();
      throw e;
    }
    last = link;
    key = sealing;
    opening = null;
    nextKey = null;
    endsMidLine = false;
  }

  /** Notes a rotation of the master key, for the next write's key change line. */
  @GuardedBy("this")
  private void followMasterKey() {
    AuditKey now;
    try {
      now = currentKey.get();
    } catch (RuntimeException e) {
      return; // the key files cannot be read this moment (an operator copying them): the next check asks again
    }
    if (now.id().equals(key.id())) {
      nextKey = null;
    } else if (opening != null) {
      key = now; // nothing written to this file since it was opened: its open line changes the key
    } else {
      nextKey = now;
    }
  }

  /** Ends the file the path no longer names with its close line, if this writer wrote to it, and closes it. */
  @GuardedBy("this")
  private void leaveRenamedFile() throws IOException {
    try {
      if (opening == null) {
        append(List.of(AuditLine.closeJson(clock.instant())));
      }
    } finally {
      release();
    }
  }

  @GuardedBy("this")
  private boolean checkDue() {
    long now = System.nanoTime();
    if (now - nextCheck < 0) {
      return false;
    }
    nextCheck = now + CHECKED_EVERY_NANOS;
    return true;
  }

  @GuardedBy("this")
  private boolean pathNamesTheOpenFile() {
    try {
      return Objects.equals(Files.readAttributes(path, BasicFileAttributes.class).fileKey(), fileKey);
    } catch (NoSuchFileException renamedAndNotReplaced) {
      return false;
    } catch (IOException e) {
      return true; // cannot tell: keep writing where the lines went so far
    }
  }

  @GuardedBy("this")
  private void release() {
    if (out != null) {
      try {
        out.close();
      } catch (IOException e) {
        // The stream is given up either way; the write that failed already reports the trouble.
      }
      out = null;
    }
  }

  /** What the end of a file holds: its last chained line, if any, and whether it ends without a line break. */
  private record Tail(Optional<AuditLine.Link> last, boolean endsMidLine) {
    /**
     * Reads {@code path} backwards from its end: lines cut short (by crashes) are passed over, and the
     * first whole line decides: chained, the chain goes on after it; not chained (an earlier release's),
     * a new chain starts.
     */
    static Tail of(Path path) throws IOException {
      try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "r")) {
        long end = file.length();
        if (end == 0) {
          return new Tail(Optional.empty(), false);
        }
        file.seek(end - 1);
        boolean endsMidLine = file.read() != '\n';
        long lineEnd = endsMidLine ? end : end - 1;
        while (true) {
          long lineStart = startOfLine(file, lineEnd);
          byte[] bytes = new byte[Math.toIntExact(lineEnd - lineStart)];
          file.seek(lineStart);
          file.readFully(bytes);
          String text = new String(bytes, UTF_8);
          Optional<AuditLine> line = AuditLine.parse(text);
          if (line.isPresent()) {
            return new Tail(Optional.of(line.get().link()), endsMidLine);
          }
          if (lineStart == 0 || AuditLine.isWhole(text)) {
            return new Tail(Optional.empty(), endsMidLine);
          }
          lineEnd = lineStart - 1;
        }
      }
    }

    /** Where the line that ends at {@code end} (exclusive) starts: after the line break before it, or at 0. */
    private static long startOfLine(RandomAccessFile file, long end) throws IOException {
      byte[] chunk = new byte[CHUNK];
      for (long position = end; position > 0; ) {
        int length = (int) Math.min(CHUNK, position);
        position -= length;
        file.seek(position);
        file.readFully(chunk, 0, length);
        for (int i = length - 1; i >= 0; i--) {
          if (chunk[i] == '\n') {
            return position + i + 1;
          }
        }
      }
      return 0;
    }
  }
}
