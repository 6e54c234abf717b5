package dev.keyhold.postgres;

import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A real PostgreSQL server in a throwaway directory, for tests and benchmarks: Debian's binaries
 * ({@code postgresql} package, {@code /usr/lib/postgresql/<version>/bin}, or {@code KEYHOLD_PG_BIN}),
 * a cluster made by {@code initdb}, listening on 127.0.0.1 on a free port, trusting local
 * connections. PostgreSQL refuses to run as root: as root, the server runs as the {@code postgres}
 * user that the package creates.
 *
 * <p>Each caller takes a database of its own ({@link #newDatabase}). {@link #stop()} stops the server
 * at once and removes the directory; nothing of it is meant to last.
 */
public final class ThrowawayPostgres implements AutoCloseable {
  /** The role tests connect as; trusted, so any password is taken. */
  public static final String USER = "keyhold";
  private static final String SERVICE_USER = "postgres";
  private static final long TIMEOUT_SECONDS = 60;

  private static ThrowawayPostgres shared; // guarded by ThrowawayPostgres.class

  private final Path directory;
  private final Path bin;
  private final int port;
  private final boolean asServiceUser;
  private final AtomicInteger databases = new AtomicInteger();

  private ThrowawayPostgres(Path directory, Path bin, int port, boolean asServiceUser) {
    this.directory = directory;
    this.bin = bin;
    this.port = port;
    this.asServiceUser = asServiceUser;
  }

  /**
   * Makes a cluster in {@code directory} (which must not exist yet, or be empty) and starts it. As
   * root, the {@code postgres} user must be able to reach the directory's parent (a JUnit temporary
   * directory, mode 700, is not reachable; the system's temporary directory is); the directory itself
   * is handed to it.
   *
   * @throws IllegalStateException with what to install if PostgreSQL's binaries are missing
   */
  public static ThrowawayPostgres start(Path directory) {
    Path bin = binaries();
    boolean root = "root".equals(System.getProperty("user.name"));
    try {
      Files.createDirectories(directory);
      ThrowawayPostgres server = new ThrowawayPostgres(directory.toAbsolutePath(), bin, freePort(), root);
      if (root) {
        server.run(List.of("chown", SERVICE_USER, server.directory.toString()), false);
      }
      server.run(List.of(bin.resolve("initdb").toString(), "-D", server.data().toString(), "-U", USER,
          "--auth=trust", "--encoding=UTF8", "--no-sync"), true);
      server.run(List.of(bin.resolve("pg_ctl").toString(), "-D", server.data().toString(), "-l",
          server.directory.resolve("server.log").toString(), "-w", "-t", String.valueOf(TIMEOUT_SECONDS),
          "-o", server.options(), "start"), true);
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start PostgreSQL in " + directory, e);
    }
  }

  /**
   * The server of this JVM, started on the first call in a new directory under the system's temporary
   * directory (which the {@code postgres} user can reach, as it may not reach a checkout under
   * {@code /root}) and stopped when the JVM exits: Surefire runs each test class in a JVM of its own, so
   * each class gets one server.
   */
  public static synchronized ThrowawayPostgres forThisJvm() {
    if (shared == null) {
      Path directory;
      try {
        directory = Files.createTempDirectory("keyhold-postgres-");
      } catch (IOException e) {
        throw new UncheckedIOException("cannot make a directory for PostgreSQL", e);
      }
      shared = start(directory);
      Runtime.getRuntime().addShutdownHook(new Thread(shared::stop, "throwaway-postgres-stop"));
    }
    return shared;
  }

  /** Creates an empty database and returns its JDBC URL. */
  public String newDatabase() {
    String name = "keyhold_" + databases.incrementAndGet();
    try (Connection connection = DriverManager.getConnection(url("postgres"), USER, "");
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot create database " + name, e);
    }
    return url(name);
  }

  /**
   * Backs up the database of {@code jdbcUrl} into {@code file} as an operator does, with
   * {@code pg_dump} in its custom format.
   */
  public void dump(String jdbcUrl, Path file) {
    String database = jdbcUrl.substring(jdbcUrl.lastIndexOf('/') + 1);
    try {
      run(List.of(bin.resolve("pg_dump").toString(), "-h", "127.0.0.1", "-p", String.valueOf(port), "-U", USER,
          "--format=custom", "--file=" + file, database), false);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot dump " + database, e);
    }
  }

  /** Restores a {@link #dump} into a new database with {@code pg_restore}, and returns its JDBC URL. */
  public String restore(Path file) {
    String url = newDatabase();
    try {
      run(List.of(bin.resolve("pg_restore").toString(), "-h", "127.0.0.1", "-p", String.valueOf(port), "-U", USER,
          "--exit-on-error", "--no-owner", "--dbname=" + url.substring(url.lastIndexOf('/') + 1), file.toString()),
          false);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot restore " + file, e);
    }
    return url;
  }

  public int port() {
    return port;
  }

  /** Stops the server, as an outage would, keeping its data for {@link #startAgain()}. */
  public void stopForAnOutage() {
    try {
      run(List.of(bin.resolve("pg_ctl").toString(), "-D", data().toString(), "-m", "fast", "-w", "stop"), true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stop PostgreSQL in " + directory, e);
    }
  }

  /** Starts the server again after {@link #stopForAnOutage()}, on the same port, with its data. */
  public void startAgain() {
    try {
      run(List.of(bin.resolve("pg_ctl").toString(), "-D", data().toString(), "-l",
          directory.resolve("server.log").toString(), "-w", "-t", String.valueOf(TIMEOUT_SECONDS),
          "-o", options(), "start"), true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start PostgreSQL in " + directory, e);
    }
  }

  /** Stops the server at once (the tests' data need not survive) and removes its directory. */
  public void stop() {
    try {
      run(List.of(bin.resolve("pg_ctl").toString(), "-D", data().toString(), "-m", "immediate", "-w", "stop"), true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stop PostgreSQL in " + directory, e);
    } finally {
      deleteQuietly(directory);
    }
  }

  @Override
  public void close() {
    stop();
  }

  private String options() {
    return "-p " + port + " -k " + directory + " -c listen_addresses=127.0.0.1 -c fsync=off"
        + " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200";
  }

  private String url(String database) {
    return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
  }

  private Path data() {
    return directory.resolve("data");
  }

  private void run(List<String> command, boolean asServer) throws IOException {
    List<String> full = new ArrayList<>();
    if (asServer && asServiceUser) {
      full.addAll(List.of("runuser", "-u", SERVICE_USER, "--"));
    }
    full.addAll(command);
    Process process = new ProcessBuilder(full).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      checkState(process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "%s did not finish", command.get(0));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running " + command.get(0), e);
    }
    checkState(process.exitValue() == 0, "%s failed (%s): %s", command.get(0), process.exitValue(), output);
  }

  private static Path binaries() {
    Optional<Path> configured = Optional.ofNullable(System.getenv("KEYHOLD_PG_BIN")).map(Path::of);
    if (configured.isPresent()) {
      return configured.get();
    }
    Path root = Path.of("/usr/lib/postgresql");
    try (Stream<Path> versions = Files.isDirectory(root) ? Files.list(root) : Stream.empty()) {
      return versions.map(version -> version.resolve("bin"))
          .filter(dir -> Files.isExecutable(dir.resolve("initdb")))
          .max(Comparator.comparing(dir -> Integer.parseInt(dir.getParent().getFileName().toString())))
          .orElseThrow(() -> new IllegalStateException(
              "PostgreSQL's server binaries are missing: apt-get install postgresql (or set KEYHOLD_PG_BIN)"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  private static void deleteQuietly(Path directory) {
    try (Stream<Path> paths = Files.walk(directory)) {
      for (Path path : ImmutableList.copyOf(paths.sorted(Comparator.reverseOrder()).iterator())) {
        Files.deleteIfExists(path);
      }
    } catch (IOException e) {
      // a throwaway directory under target/: mvn clean removes what is left
    }
  }
}
