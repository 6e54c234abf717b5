package dev.keyhold.app.operator;

import com.google.common.collect.ImmutableList;
import dev.keyhold.cluster.Cluster;
import dev.keyhold.cluster.ClusterFile;
import dev.keyhold.cluster.ClusterRegistry;
import dev.keyhold.cluster.Hsm;
import dev.keyhold.kms.secret.MasterKey;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code bin/keyhold --config FILE --check}: everything about a node that can be checked without
 * serving, each problem at its line. The database is reached (never migrated), the clusters file and
 * its libraries read, the master key and TLS material opened, the audit log's directory tried.
 */
public final class NodeCheck {
  private NodeCheck() {}

  /** The problems of {@code read}: its own, and those of what its configuration names. */
  public static ImmutableList<ConfigFile.Problem> problems(ConfigFile.Read read) {
    List<ConfigFile.Problem> problems = new ArrayList<>(read.problems());
    if (!problems.isEmpty() || read.config().isEmpty()) {
      return ImmutableList.copyOf(problems);
    }
    NodeConfig node = read.config().get();
    ConfigFile.Checks checks = new ConfigFile.Checks(read, problems);
    checkClusters(node.clusters(), checks);
    checkMetadata(node.metadata(), checks);
    try {
      MasterKey.load(node.masterKey());
    } catch (RuntimeException e) {
      checks.that(false, "/masterKey", "masterKey: " + e.getMessage()
          + " (every node shares one key: create it once with `bin/keyhold master-key create --config FILE`)");
    }
    Path auditDirectory = node.auditLog().toAbsolutePath().getParent();
    checks.that(Files.isDirectory(auditDirectory) && Files.isWritable(auditDirectory), "/auditLog",
        "auditLog: the directory " + auditDirectory + " must exist and be writable");
    NodeConfig.Tls tls = node.listen().tls();
    if (tls != null) {
      try {
        OperatorNode.tlsOf(tls);
      } catch (Exception e) {
        checks.that(false, "/listen/tls", "listen.tls: " + e.getMessage());
      }
    }
    return ImmutableList.copyOf(problems);
  }

  private static void checkClusters(Path file, ConfigFile.Checks checks) {
    ClusterRegistry clusters;
    try {
      clusters = ClusterFile.read(file);
    } catch (RuntimeException e) {
      checks.that(false, "/clusters", "clusters: " + e.getMessage());
      return;
    }
    for (Cluster cluster : clusters.all()) {
      for (Hsm hsm : cluster.hsms()) {
        checks.that(Files.isReadable(hsm.module()), "/clusters", "clusters: " + cluster.clusterId() + "/"
            + hsm.hsmId() + ": the PKCS#11 library " + hsm.module() + " is not there");
      }
    }
  }

  private static void checkMetadata(NodeConfig.Metadata metadata, ConfigFile.Checks checks) {
    if (metadata.h2() != null) {
      Path parent = metadata.h2().toAbsolutePath().getParent();
      checks.that(Files.isDirectory(metadata.h2()) || (parent != null && Files.isWritable(parent)), "/metadata/h2",
          "metadata.h2: " + metadata.h2() + " is no directory, and cannot be made");
      return;
    }
    NodeConfig.Jdbc jdbc = metadata.jdbc();
    try {
      String password = jdbc.password().reveal();
      DriverManager.setLoginTimeout(10);
      try (Connection connection = DriverManager.getConnection(jdbc.url(), jdbc.user(), password)) {
        checks.that(connection.isValid(10), "/metadata/jdbc/url", "metadata.jdbc: the database does not answer");
      }
    } catch (SQLException | RuntimeException e) {
      checks.that(false, "/metadata/jdbc/url", "metadata.jdbc: cannot connect to " + jdbc.url() + ": "
          + e.getMessage());
    }
  }
}
