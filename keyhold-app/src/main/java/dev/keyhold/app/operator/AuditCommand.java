package dev.keyhold.app.operator;

import dev.keyhold.app.LocalBackend;
import dev.keyhold.app.LocalKeyhold;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.server.ops.AuditLogVerifier;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold audit verify --config FILE [--log PATH]...}: verifies a node's audit log, its
 * lines chained under a key derived from the configured master key ({@link AuditLogVerifier}); or, with
 * {@code --home DIR}, the embedded default's. Prints each file's verified lines and notes; exits 0 if
 * nothing is wrong, 1 with the first line removed, reordered or changed, or a torn last line, and 2
 * when it cannot verify (bad options, a file that cannot be read).
 */
@Command(name = "audit", description = "Checks audit logs.", mixinStandardHelpOptions = true,
    subcommands = AuditCommand.Verify.class)
public final class AuditCommand {
  static final int WRONG = 1;
  static final int CANNOT_VERIFY = 2;

  @Command(name = "verify", mixinStandardHelpOptions = true,
      description = "Verifies an audit log: reports the first line removed, reordered or changed, or a torn last "
          + "line, and exits 1 if there is one.")
  static final class Verify implements Callable<Integer> {
    @ArgGroup(multiplicity = "1")
    Source source;

    @Option(names = "--log", paramLabel = "PATH", description = "The log to verify (default: the configured one); "
        + "several, oldest first, to verify rotated files as one chain (files ending .gz are read through gzip).")
    List<Path> logs;

    @Option(names = "--closed", description = "The log's writer has stopped (the node is stopped, or the file was "
        + "rotated): its last line must be its close line, so lines removed from its end are found.")
    boolean closed;

    /** Where the master key and the default log come from. */
    static final class Source {
      @Option(names = "--config", paramLabel = "FILE", description = "The node's YAML file.")
      Path config;

      @Option(names = "--home", paramLabel = "DIR", description = "The embedded default's home, e.g. ~/.keyhold.")
      Path home;
    }

    @Override
    public Integer call() {
      Path masterKeyFile;
      Path defaultLog;
      if (source.config != null) {
        ConfigFile.Read read = ConfigFile.read(source.config, System::getenv);
        if (!read.problems().isEmpty()) {
          read.problems().forEach(problem -> System.err.println(source.config + ": " + problem));
          return CANNOT_VERIFY;
        }
        NodeConfig node = read.orElseThrow();
        masterKeyFile = node.masterKey();
        defaultLog = node.auditLog();
      } else {
        masterKeyFile = source.home.resolve(LocalBackend.MASTER_KEY);
        defaultLog = source.home.resolve(LocalKeyhold.AUDIT_LOG);
      }
      List<Path> files = logs == null ? List.of(defaultLog) : logs;
      AuditLogVerifier.Verification verification;
      try {
        verification = AuditLogVerifier.of(MasterKey.load(masterKeyFile)).verify(files, closed);
      } catch (IOException | UncheckedIOException | IllegalStateException e) {
        System.err.println("cannot verify: " + e.getMessage());
        return CANNOT_VERIFY;
      }
      for (AuditLogVerifier.FileVerification file : verification.files()) {
        file.notes().forEach(note -> System.out.println(file.file() + ": line " + note.line() + ": " + note.text()));
        System.out.println(file.file() + ": " + summary(file, verification));
      }
      verification.problem().ifPresent(System.err::println);
      return verification.ok() ? 0 : WRONG;
    }

    private static String summary(AuditLogVerifier.FileVerification file, AuditLogVerifier.Verification verification) {
      String verified = file.verifiedLines() + (file.verifiedLines() == 1 ? " line" : " lines") + " verified";
      if (verification.problem().filter(problem -> problem.file().equals(file.file())).isPresent()) {
        return verified + " before line " + verification.problem().get().line();
      }
      return verified + (file.closed() ? ", closed" : ", open: its writer is running, or was killed");
    }
  }
}
