package dev.keyhold.cluster;

import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.google.common.base.Enums;
import dev.keyhold.pkcs11.TokenProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads and writes the clusters file: the JSON document from which the service learns its clusters.
 * {@code softhsm-config} writes it for local clusters; an operator writes it by hand for an AWS
 * CloudHSM cluster (see docs/clusters.md).
 *
 * <pre>{@code
 * {"clusters": [
 *   {"clusterId": "cluster-abcdefghijk",
 *    "trustAnchorCertificate": "cluster-abcdefghijk-customerCA.crt",
 *    "hsms": [
 *      {"hsmId": "hsm-abcdefghijk", "module": "/usr/lib/softhsm/libsofthsm2.so",
 *       "tokenLabel": "cluster-abcdefghijk/hsm1", "profile": "SOFTHSM2", "state": "ACTIVE"}
 *    ]}
 * ]}
 * }</pre>
 *
 * <ul>
 *   <li>{@code clusterId}: {@code cluster-} and 11 to 16 characters of {@code a-z} and {@code 2-7}.
 *   <li>{@code trustAnchorCertificate}: a PEM file holding the one certificate the cluster was
 *       initialised with (CloudHSM's {@code customerCA.crt}); a relative path is resolved against
 *       the directory of the clusters file.
 *   <li>{@code hsmId}: {@code hsm-} and 11 to 16 characters of {@code a-z} and {@code 2-7}.
 *   <li>{@code module}: absolute path of the PKCS#11 library.
 *   <li>{@code tokenLabel}: the label of the token, 1 to 32 characters.
 *   <li>{@code profile}: a {@link TokenProfile}, {@code SOFTHSM2} or {@code AWS_CLOUDHSM}.
 *   <li>{@code state}: an {@link HsmState}; only {@code ACTIVE} HSMs take work.
 *   <li>{@code cloudhsmCli} (an AWS CloudHSM cluster's, optional): {@code {"executable":
 *       "/opt/cloudhsm/bin/cloudhsm-cli", "multiCluster": false}}, the CLI through which kmsuser's
 *       password is rotated ({@link CloudHsmCliConfig}); {@code multiCluster} may be left out.
 * </ul>
 *
 * <p>Every other field is required and no other field is allowed, so that a misspelt one fails loudly
 * instead of being ignored. Cluster ids, HSM ids and tokens (module and label) are unique across the
 * file; several HSMs of one cluster may share a token, as CloudHSM shows a cluster as one slot.
 */
public final class ClusterFile {
  /** What {@link #write} names each cluster's certificate file, after CloudHSM's {@code customerCA.crt}. */
  public static final String CERTIFICATE_SUFFIX = "-customerCA.crt";

  private static final JsonMapper JSON = JsonMapper.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .enable(SerializationFeature.INDENT_OUTPUT)
      .build();

  private ClusterFile() {}

  /**
   * Reads the clusters file and every certificate it names. A file that does not exist holds no
   * clusters: a fresh installation has none yet.
   *
   * @throws InvalidClusterFileException if the file or a certificate it names is not as documented
   * @throws UncheckedIOException if the file exists but cannot be read
   */
  public static ClusterRegistry read(Path file) {
    checkNotNull(file, "file");
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return ClusterRegistry.empty();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the clusters file " + file, e);
    }
    FileJson json;
    try {
      json = JSON.readValue(bytes, FileJson.class);
    } catch (JsonProcessingException e) {
      throw new InvalidClusterFileException(file, describe(e), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the clusters file " + file, e);
    }
    return new Reader(file).registry(json);
  }

  /**
   * Writes {@code registry} to {@code file}, and each cluster's trust anchor beside it as
   * {@code <clusterId>-customerCA.crt}. Each file is replaced atomically, certificates first, so a
   * reader never sees a half-written file nor a cluster whose certificate is missing.
   *
   * @throws UncheckedIOException if a file cannot be written
   */
  public static void write(Path file, ClusterRegistry registry) {
    checkNotNull(file, "file");
    checkNotNull(registry, "registry");
    Path directory = file.toAbsolutePath().getParent();
    try {
      Files.createDirectories(directory);
      List<ClusterJson> clusters = new ArrayList<>();
      for (Cluster cluster : registry.all()) {
        String certificate = cluster.clusterId() + CERTIFICATE_SUFFIX;
        writeAtomically(directory.resolve(certificate), cluster.trustAnchor().pem());
        List<HsmJson> hsms = new ArrayList<>();
        for (Hsm hsm : cluster.hsms()) {
          hsms.add(new HsmJson(hsm.hsmId(), hsm.module().toString(), hsm.tokenLabel(), hsm.profile().name(),
              hsm.state().name()));
        }
        CloudHsmCliJson cli = cluster.cloudHsmCli()
            .map(c -> new CloudHsmCliJson(c.executable().toString(), c.multiCluster())).orElse(null);
        clusters.add(new ClusterJson(cluster.clusterId(), certificate, hsms, cli));
      }
      writeAtomically(file.toAbsolutePath(), JSON.writeValueAsString(new FileJson(clusters)) + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the clusters file " + file, e);
    }
  }

  private static void writeAtomically(Path target, String text) throws IOException {
    // Nothing here is secret, and the service may run as another user than the one writing.
    Path temp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r--r--")));
    try {
      Files.writeString(temp, text, UTF_8);
      // Without this a crash soon after the rename could leave an empty file in the old one's place.
      try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
        channel.force(true);
      }
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  /** Where Jackson stopped and why, without its internal class names. */
  private static String describe(JsonProcessingException e) {
    StringBuilder where = new StringBuilder();
    if (e instanceof JsonMappingException mapping) {
      for (JsonMappingException.Reference step : mapping.getPath()) {
        if (step.getFieldName() != null) {
          where.append(where.length() == 0 ? "" : ".").append(step.getFieldName());
        } else if (step.getIndex() >= 0) {
          where.append('[').append(step.getIndex()).append(']');
        }
      }
    }
    String what = e instanceof UnrecognizedPropertyException unknown
        ? "unknown field '" + unknown.getPropertyName() + "'"
        : e.getOriginalMessage();
    JsonLocation location = e.getLocation();
    return "malformed"
        + (location == null ? "" : " at line " + location.getLineNr() + ", column " + location.getColumnNr())
        + (where.length() == 0 ? "" : " (" + where + ")")
        + ": " + what;
  }

  /** Turns the parsed JSON into clusters, naming the entry at fault in every error. */
  private static final class Reader {
    private final Path file;
    private final Path directory;

    Reader(Path file) {
      this.file = file;
      this.directory = file.toAbsolutePath().getParent();
    }

    ClusterRegistry registry(FileJson json) {
      List<ClusterJson> entries = required(object(json, "the document").clusters(), "clusters", "the document");
      List<Cluster> clusters = new ArrayList<>();
      for (int i = 0; i < entries.size(); i++) {
        clusters.add(cluster(entries.get(i), "clusters[" + i + "]"));
      }
      try {
        return ClusterRegistry.of(clusters);
      } catch (IllegalArgumentException e) {
        throw new InvalidClusterFileException(file, e.getMessage(), e);
      }
    }

    private Cluster cluster(ClusterJson json, String where) {
      String clusterId = required(object(json, where).clusterId(), "clusterId", where);
      String entry = where + " (" + clusterId + ")";
      TrustAnchor trustAnchor = trustAnchor(required(json.trustAnchorCertificate(), "trustAnchorCertificate", entry),
          entry);
      List<HsmJson> hsmEntries = required(json.hsms(), "hsms", entry);
      List<Hsm> hsms = new ArrayList<>();
      for (int i = 0; i < hsmEntries.size(); i++) {
        hsms.add(hsm(hsmEntries.get(i), entry + ": hsms[" + i + "]"));
      }
      try {
        Cluster cluster = Cluster.of(clusterId, hsms, trustAnchor);
        return json.cloudhsmCli() == null ? cluster : cluster.withCloudHsmCli(cli(json.cloudhsmCli(), entry));
      } catch (IllegalArgumentException e) {
        throw invalid(entry, e.getMessage(), e);
      }
    }

    private CloudHsmCliConfig cli(CloudHsmCliJson json, String where) {
      String executable = required(json.executable(), "executable", where + ": cloudhsmCli");
      try {
        return new CloudHsmCliConfig(Path.of(executable), Boolean.TRUE.equals(json.multiCluster()));
      } catch (InvalidPathException e) {
        throw invalid(where, "cloudhsmCli executable '" + executable + "' is not a path: " + e.getReason(), e);
      }
    }

    private Hsm hsm(HsmJson json, String where) {
      String hsmId = required(object(json, where).hsmId(), "hsmId", where);
      String entry = where + " (" + hsmId + ")";
      String module = required(json.module(), "module", entry);
      String tokenLabel = required(json.tokenLabel(), "tokenLabel", entry);
      TokenProfile profile = constant(TokenProfile.class, required(json.profile(), "profile", entry), "profile", entry);
      HsmState state = constant(HsmState.class, required(json.state(), "state", entry), "state", entry);
      Path modulePath;
      try {
        modulePath = Path.of(module);
      } catch (InvalidPathException e) {
        throw invalid(entry, "module '" + module + "' is not a path: " + e.getReason(), e);
      }
      try {
        return Hsm.of(hsmId, modulePath, tokenLabel, profile, state);
      } catch (IllegalArgumentException e) {
        throw invalid(entry, e.getMessage(), e);
      }
    }

    private TrustAnchor trustAnchor(String name, String where) {
      Path certificate;
      try {
        certificate = directory.resolve(name); // an absolute name stays as it is
      } catch (InvalidPathException e) {
        throw invalid(where, "trustAnchorCertificate '" + name + "' is not a path: " + e.getReason(), e);
      }
      String pem;
      try {
        // ISO-8859-1 decodes any bytes, so a DER file is reported as "no PEM block", not as bad UTF-8.
        pem = Files.readString(certificate, ISO_8859_1);
      } catch (IOException e) {
        throw invalid(where, "cannot read trust anchor certificate " + certificate + ": " + e, e);
      }
      try {
        return TrustAnchor.fromPem(pem);
      } catch (IllegalArgumentException e) {
        throw invalid(where, "trust anchor certificate " + certificate + ": " + e.getMessage(), e);
      }
    }

    private <E extends Enum<E>> E constant(Class<E> type, String name, String field, String where) {
      return Enums.getIfPresent(type, name).toJavaUtil().orElseThrow(() -> invalid(where,
          "unknown " + field + " '" + name + "'; one of " + Arrays.toString(type.getEnumConstants()), null));
    }

    /** Jackson turns a JSON {@code null} into a null record. */
    private <T> T object(T value, String where) {
      if (value == null) {
        throw invalid(where, "null where an object belongs", null);
      }
      return value;
    }

    /** Jackson leaves an absent field (or a JSON {@code null}) null. */
    private <T> T required(T value, String field, String where) {
      if (value == null) {
        throw invalid(where, "missing field '" + field + "'", null);
      }
      return value;
    }

    private InvalidClusterFileException invalid(String where, String detail, Throwable cause) {
      return new InvalidClusterFileException(file, where + ": " + detail, cause);
    }
  }

  // The JSON shape, field for field; Jackson maps records by their component names.

  private record FileJson(List<ClusterJson> clusters) {}

  private record ClusterJson(String clusterId, String trustAnchorCertificate, List<HsmJson> hsms,
      @JsonInclude(JsonInclude.Include.NON_NULL) CloudHsmCliJson cloudhsmCli) {}

  private record CloudHsmCliJson(String executable, Boolean multiCluster) {}

  private record HsmJson(String hsmId, String module, String tokenLabel, String profile, String state) {}
}
