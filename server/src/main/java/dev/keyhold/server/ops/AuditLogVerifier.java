package dev.keyhold.server.ops;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import com.google.common.hash.HashCode;
import dev.keyhold.kms.secret.MasterKey;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/**
 * Verifies chained audit logs ({@link AuditLog}) under the audit keys a master key derives, and finds
 * the first line that was removed, moved or changed, or a last line cut short.
 *
 * <p>Every chained line must carry the id of an audit key that a key of the master key's files derives
 * (its configured file's, and a rotation's beside it), and a MAC under that key that covers it and the
 * line before, and follow that line's sequence number. The key changes only after a key change line
 * that names the next, or at an open line. A file's first chained line opens it: a new chain
 * ({@code start}), or, in a file that logrotate made, the chain of the file before ({@code rotate}),
 * which is checked when that file is verified with it. Lines a crash cut short may stand in the middle
 * of a file when the writer started again right after them (an open line that continues the line
 * before them); they are noted. So are whole lines that are not chained before a file's chain begins
 * (an earlier release's), which are not verified, and a writer that started again without having
 * closed the file. The end of a file whose writer has stopped must be its close line: otherwise lines
 * were removed from the end, or the writer was killed. A file still being written has no close line
 * yet, and what is removed from its end shows only once its writer writes again.
 *
 * <p>Files ending in {@code .gz} are read through gzip. Immutable and thread-safe.
 */
public final class AuditLogVerifier {
  private final ImmutableMap<String, AuditKey> keys;

  private AuditLogVerifier(ImmutableMap<String, AuditKey> keys) {
    this.keys = keys;
  }

  /** Verifies with the audit keys that the keys {@code masterKey} holds now derive. */
  public static AuditLogVerifier of(MasterKey masterKey) {
    return new AuditLogVerifier(AuditKey.all(masterKey));
  }

  /** What is wrong with a line. */
  public enum Kind {
    /** Its content is not what was MACed: edited, or not a chained line at all. */
    CHANGED,
    /** Lines that belonged before it are not there, or the file lacks its end. */
    REMOVED,
    /** It is not where its writer put it. */
    REORDERED,
    /** The file's last line was cut short: its writer was killed mid-write, or the end of the file removed. */
    TORN,
    /** It was MACed under a key that none of the master key's files derives. */
    WRONG_KEY
  }

  /** The first thing wrong: the file, the line's number in it (from 1), what, and a sentence saying so. */
  public record Problem(Path file, long line, Kind kind, String detail) {
    @Override
    public String toString() {
      return file + ": line " + line + ": " + detail;
    }
  }

  /** Something worth knowing that is not wrong, at a line of a file. */
  public record Note(long line, String text) {}

  /**
   * One file, as far as it was verified: how many chained lines verified, whether it ends with its close
   * line, and the notes.
   */
  public record FileVerification(Path file, long verifiedLines, boolean closed, ImmutableList<Note> notes) {}

  /** What {@link #verify} found: each file it read, and the first problem, if any. */
  public record Verification(ImmutableList<FileVerification> files, Optional<Problem> problem) {
    public boolean ok() {
      return problem.isEmpty();
    }
  }

  /**
   * Verifies {@code files}, the files of one chain, oldest first (such as {@code audit.log.2},
   * {@code audit.log.1}, {@code audit.log}), as far as the first problem. Every file but the newest must
   * end with its close line, and the newest too if {@code writerStopped}.
   *
   * @throws IOException if a file cannot be read
   */
  public Verification verify(List<Path> files, boolean writerStopped) throws IOException {
    checkArgument(!files.isEmpty(), "no file to verify");
    ImmutableList.Builder<FileVerification> verified = ImmutableList.builder();
    Optional<AuditLine> carried = Optional.empty();
    Optional<Path> previousFile = Optional.empty();
    for (int i = 0; i < files.size(); i++) {
      Path file = checkNotNull(files.get(i), "file");
      FileCheck check = new FileCheck(file, previousFile, carried);
      Optional<Problem> problem = check.run(i < files.size() - 1 || writerStopped);
      verified.add(check.result());
      if (problem.isPresent()) {
        return new Verification(verified.build(), problem);
      }
      carried = check.last;
      previousFile = Optional.of(file);
    }
    return new Verification(verified.build(), Optional.empty());
  }

  /** The verification of one file: reads it line by line, and stops at the first problem. */
  private final class FileCheck {
    private final Path file;
    private final Optional<Path> previousFile;
    /** The last line of the file before, which this one's first chained line must follow. */
    private final Optional<AuditLine> carried;
    private final List<Note> notes = new ArrayList<>();
    private Optional<AuditLine> last = Optional.empty();
    private long lastNumber;
    private long verifiedLines;
    /** Lines before the first chained line: not verified. */
    private long unchained;
    /** The first of the lines cut short since the last chained line, or 0. */
    private long firstTorn;

    FileCheck(Path file, Optional<Path> previousFile, Optional<AuditLine> carried) {
      this.file = file;
      this.previousFile = previousFile;
      this.carried = carried;
    }

    Optional<Problem> run(boolean mustEndClosed) throws IOException {
      try (Lines lines = new Lines(file)) {
        for (String text = lines.next(); text != null; text = lines.next()) {
          Optional<Problem> problem = check(lines, text);
          if (problem.isPresent()) {
            return problem;
          }
        }
        if (firstTorn > 0) {
          return problem(firstTorn, Kind.TORN, "torn: the last line was cut short (its writer was killed mid-write, "
              + "or the end of the file was removed)");
        }
        if (mustEndClosed && !last.map(AuditLine::isClose).orElse(false)) {
          return problem(lines.number() + 1, Kind.REMOVED, "missing: the file ends"
              + (last.isPresent() ? " after line " + lastNumber : "") + " without its close line: lines were "
              + "removed from its end, or its writer was killed");
        }
        return Optional.empty();
      }
    }

    FileVerification result() {
      return new FileVerification(file, verifiedLines, last.map(AuditLine::isClose).orElse(false),
          ImmutableList.copyOf(notes));
    }

    private Optional<Problem> check(Lines lines, String text) throws IOException {
      long number = lines.number();
      Optional<AuditLine> parsed = AuditLine.parse(text);
      if (parsed.isEmpty()) {
        boolean whole = AuditLine.isWhole(text);
        if (last.isPresent() && whole) {
          return problem(number, Kind.CHANGED, "changed: not a chained line");
        }
        if (last.isEmpty()) {
          unchained++;
        }
        if (whole) {
          firstTorn = 0;
        } else if (firstTorn == 0) {
          firstTorn = number;
        }
        return Optional.empty();
      }
      AuditLine line = parsed.get();
      if (!keys.containsKey(line.keyId())) {
        return problem(number, Kind.WRONG_KEY, "MACed under the audit key " + line.keyId() + ", which no key of "
            + "this master key's files derives (they derive " + String.join(", ", keys.keySet()) + "): another "
            + "master key, one rotated away, or the line was changed");
      }
      Optional<Problem> problem = last.isEmpty() ? checkFirst(line, number, lines) : checkNext(line, number, lines);
      if (problem.isEmpty()) {
        last = parsed;
        lastNumber = number;
        verifiedLines++;
        firstTorn = 0;
      }
      return problem;
    }

    /** The file's first chained line: it opens the file, after the previous file's last line if there is one. */
    private Optional<Problem> checkFirst(AuditLine line, long number, Lines lines) throws IOException {
      Optional<AuditLine.Opening> opening = line.opening();
      if (unchained > 0) {
        if (opening.isEmpty() || opening.get() == AuditLine.Opening.CONTINUE) {
          return problem(1, Kind.CHANGED, "changed: not a chained line, and the file's chain does not start with "
              + "an open line");
        }
        notes.add(new Note(1, (unchained == 1 ? "line 1 is" : "lines 1-" + unchained + " are") + " not chained "
            + "(written by an earlier release, or cut short before the chain began): not verified"));
      }
      Optional<HashCode> previousMac = line.previousMac();
      if (carried.isPresent()) {
        if (opening.equals(Optional.of(AuditLine.Opening.START))) {
          return problem(number, Kind.REMOVED, "starts a new chain: it does not continue " + previousFile.orElseThrow()
              + " (files between them are missing, or the files are out of order)");
        }
        if (opening.equals(Optional.of(AuditLine.Opening.ROTATE))
            && !previousMac.equals(Optional.of(carried.get().link().mac()))) {
          return problem(number, Kind.REMOVED, "does not continue " + previousFile.orElseThrow() + ": it follows "
              + "another file's last line (files between them are missing, or the files are out of order)");
        }
        return checkLink(line, number, carried.get().link(), "the last line of " + previousFile.orElseThrow(),
            lines);
      }
      if (opening.equals(Optional.of(AuditLine.Opening.ROTATE)) && previousMac.isPresent()) {
        notes.add(new Note(number, "continues the chain of the file before it (sequence " + (line.link().seq() - 1)
            + "); verify them together, oldest first, to check that they join"));
        return checkLink(line, number, new AuditLine.Link(line.link().seq() - 1, previousMac.get()),
            "the line it names", lines);
      }
      // Else the file starts its own chain: its first line is the open line with sequence 1.
      return checkLink(line, number, AuditLine.Link.START, "the start of the chain", lines);
    }

    /** A later chained line: it follows the last one, or, as an open line, starts again after it. */
    private Optional<Problem> checkNext(AuditLine line, long number, Lines lines) throws IOException {
      AuditLine previous = last.orElseThrow();
      Optional<AuditLine.Opening> opening = line.opening();
      if (opening.isEmpty() && firstTorn > 0) {
        return problem(firstTorn, Kind.CHANGED, "changed: not a whole line, and its writer did not start again "
            + "after it");
      }
      if (opening.isPresent() && opening.get() != AuditLine.Opening.CONTINUE) {
        return problem(number, Kind.CHANGED, "changed: " + (opening.get() == AuditLine.Opening.START
            ? "a new chain starts in the middle of the file" : "a file's first line in the middle of another"));
      }
      Optional<Problem> problem = checkLink(line, number, previous.link(), "line " + lastNumber, lines);
      if (problem.isPresent() && firstTorn > 0) {
        return problem(firstTorn, Kind.CHANGED, "changed: not a whole line, and line " + number + " after it does "
            + "not follow line " + lastNumber);
      }
      if (problem.isEmpty() && opening.isPresent()) {
        if (firstTorn > 0) {
          notes.add(new Note(firstTorn, (number - firstTorn == 1 ? "torn" : "torn, as are the lines up to line "
              + (number - 1)) + ": cut short by a crash; its writer started again at line " + number));
        } else if (!previous.isClose()) {
          notes.add(new Note(number, "its writer started again without having closed the file after line "
              + lastNumber + ": it was killed, or lines were removed from the end while it was stopped"));
        }
      }
      return problem;
    }

    /**
     * Checks that {@code line} follows {@code previous} ({@code what} names it). When its sequence number
     * skips ahead, the {@code rest} of the file is searched for the line that should have come next:
     * found, the lines are out of order; not found, lines were removed.
     */
    private Optional<Problem> checkLink(AuditLine line, long number, AuditLine.Link previous, String what,
        Lines rest) throws IOException {
      long expected = previous.seq() + 1;
      long seq = line.link().seq();
      if (seq == expected) {
        Optional<String> keyBefore = (last.isPresent() ? last : carried)
            .map(before -> before.newKeyId().orElse(before.keyId()));
        if (line.opening().isEmpty() && keyBefore.isPresent() && !keyBefore.get().equals(line.keyId())) {
          return problem(number, Kind.CHANGED, "changed: MACed under the audit key " + line.keyId() + " where "
              + what + " leaves off under " + keyBefore.get() + " (only a key change line or an open line changes "
              + "the key)");
        }
        return follows(line, previous)
            ? Optional.empty()
            : problem(number, Kind.CHANGED, "changed: its MAC does not match its content and " + what);
      }
      if (seq < expected) {
        return problem(number, Kind.REORDERED, "out of order: sequence " + seq + " after " + previous.seq()
            + " (" + what + ")");
      }
      for (String text = rest.next(); text != null; text = rest.next()) {
        Optional<AuditLine> later = AuditLine.parse(text);
        if (later.isPresent() && later.get().link().seq() == expected && follows(later.get(), previous)) {
          return problem(number, Kind.REORDERED, "out of order: line " + rest.number() + " is the one that follows "
              + what);
        }
      }
      return problem(number, Kind.REMOVED, "removed before it: "
          + (seq - expected == 1 ? "the line with sequence " + expected + " is" : "the lines with sequence " + expected
              + "-" + (seq - 1) + " are") + " missing after " + what);
    }

    /** Whether {@code line}'s MAC, under the key it names, covers it after {@code previous}. */
    private boolean follows(AuditLine line, AuditLine.Link previous) {
      AuditKey key = keys.get(line.keyId());
      return key != null && key.mac(previous.mac(), line.body()).equals(line.link().mac());
    }

    private Optional<Problem> problem(long line, Kind kind, String detail) {
      return Optional.of(new Problem(file, line, kind, detail));
    }
  }

  /** A file's lines, split at line breaks, counted from 1; a last line without a line break is a line too. */
  private static final class Lines implements Closeable {
    private final InputStream in;
    private final byte[] buffer = new byte[1 << 16];
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private int position;
    private int limit;
    private long number;

    Lines(Path file) throws IOException {
      InputStream raw = Files.newInputStream(file);
      try {
        in = file.getFileName().toString().endsWith(".gz") ? new GZIPInputStream(raw, buffer.length) : raw;
      } catch (IOException | RuntimeException e) {
        raw.close();
        throw e;
      }
    }

    /** The next line, or null at the end. */
    String next() throws IOException {
      line.reset();
      while (true) {
        if (position == limit) {
          limit = in.read(buffer);
          position = 0;
          if (limit <= 0) {
            limit = 0;
            if (line.size() == 0) {
              return null;
            }
            number++;
            return line.toString(UTF_8);
          }
        }
        int start = position;
        while (position < limit && buffer[position] != '\n') {
          position++;
        }
        line.write(buffer, start, position - start);
        if (position < limit) {
          position++; // the line break
          number++;
          return line.toString(UTF_8);
        }
      }
    }

    /** The number of the line {@link #next} returned last. */
    long number() {
      return number;
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }
}
