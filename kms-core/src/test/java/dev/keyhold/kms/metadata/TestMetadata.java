package dev.keyhold.kms.metadata;

import dev.keyhold.postgres.ThrowawayPostgres;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The metadata store a test opens for a data directory: the embedded H2 store in it, or, when the
 * build runs the tests on PostgreSQL ({@code -Dkeyhold.test.metadata=postgresql}, kms-core's
 * {@code on-postgresql} execution), a database of this JVM's throwaway PostgreSQL, the same database
 * each time the directory is opened again (as a restarted service would find it).
 */
public final class TestMetadata {
  private static final Map<Path, String> DATABASES = new ConcurrentHashMap<>();

  private TestMetadata() {}

  public static boolean onPostgresql() {
    return "postgresql".equals(System.getProperty("keyhold.test.metadata"));
  }

  public static JdbcMetadataStore open(Path dataDirectory) {
    return onPostgresql() ? openOnPostgresql(dataDirectory) : JdbcMetadataStore.embedded(dataDirectory);
  }

  /**
   * A store on the PostgreSQL database of {@code dataDirectory}, whatever the build chose: for tests
   * of what only a shared database does. Each call opens another store (its own pool and listener) on
   * the same database, as another node would.
   */
  public static JdbcMetadataStore openOnPostgresql(Path dataDirectory) {
    String url = DATABASES.computeIfAbsent(dataDirectory.toAbsolutePath(),
        directory -> ThrowawayPostgres.forThisJvm().newDatabase());
    return JdbcMetadataStore.open(url, ThrowawayPostgres.USER, "");
  }
}
