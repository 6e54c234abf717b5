package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.keyhold.kms.policy.IdentityPolicies;
import dev.keyhold.kms.secret.MasterKey;
import dev.keyhold.kms.secret.SealedSecret;
import dev.keyhold.pkcs11.Pin;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The access keys the operator configured, kept in a JSON file whose secrets are sealed with the
 * service {@link MasterKey}: whoever reads the file alone learns no secret.
 *
 * <pre>{@code
 * {"credentials": [
 *   {"accessKeyId": "AKIAIOSFODNN7EXAMPLE",
 *    "sealedSecretAccessKey": "<base64 of the sealed secret>",
 *    "principalArn": "arn:aws:iam::111122223333:user/alice"}
 * ]}
 * }</pre>
 *
 * <p>Each secret is sealed with its access key id as associated data, so a sealed secret copied to
 * another entry does not open. Every field is required and no other is allowed, so that a misspelt
 * one fails loudly; but for {@code administrator}, which files written before identity policies have.
 * There it was only ever true of the account root, which is allowed everything anyway: it is read and
 * dropped at the next write, and refused on anyone else, whose rights now come from identity policies. The secrets are opened once, at {@link #load}, and kept in memory as
 * {@link SecretAccessKey}s.
 *
 * <p>Lookups never block; {@link #add} rewrites the file atomically, with mode 0600.
 */
public final class CredentialStore implements Credentials {
  private static final JsonMapper JSON = JsonMapper.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .enable(SerializationFeature.INDENT_OUTPUT)
      .build();

  private final Path file;
  private final MasterKey masterKey;
  private volatile ImmutableMap<String, Credential> byAccessKeyId;

  private CredentialStore(Path file, MasterKey masterKey, ImmutableMap<String, Credential> byAccessKeyId) {
    this.file = file;
    this.masterKey = masterKey;
    this.byAccessKeyId = byAccessKeyId;
  }

  /**
   * Reads the credentials file and opens its secrets. A file that does not exist holds no
   * credentials: a fresh installation has none yet.
   *
   * @throws IllegalArgumentException if the file is not as documented, or a secret does not open
   *     under {@code masterKey} for its access key id
   * @throws UncheckedIOException if the file exists but cannot be read
   */
  public static CredentialStore load(Path file, MasterKey masterKey) {
    checkNotNull(file, "file");
    checkNotNull(masterKey, "masterKey");
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return new CredentialStore(file, masterKey, ImmutableMap.of());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the credentials file " + file, e);
    }
    FileJson json;
    try {
      json = JSON.readValue(bytes, FileJson.class);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(file + ": malformed: " + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the credentials file " + file, e);
    }
    checkArgument(json != null && json.credentials() != null, "%s: missing field 'credentials'", file);
    Map<String, Credential> credentials = new LinkedHashMap<>();
    for (int i = 0; i < json.credentials().size(); i++) {
      Credential credential;
      try {
        credential = open(json.credentials().get(i), masterKey);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(file + ": credentials[" + i + "]: " + e.getMessage(), e);
      }
      checkArgument(credentials.put(credential.accessKeyId(), credential) == null,
          "%s: credentials[%s]: access key id %s appears twice", file, i, credential.accessKeyId());
    }
    return new CredentialStore(file, masterKey, ImmutableMap.copyOf(credentials));
  }

  private static Credential open(CredentialJson json, MasterKey masterKey) {
    checkArgument(json != null && json.accessKeyId() != null && json.sealedSecretAccessKey() != null
            && json.principalArn() != null,
        "every field is required: accessKeyId, sealedSecretAccessKey, principalArn");
    checkArgument(!Boolean.TRUE.equals(json.administrator()) || json.principalArn().endsWith(":root"),
        "'administrator' is no longer read: attach the identity policy %s to %s instead",
        IdentityPolicies.ADMINISTRATOR, json.principalArn());
    SecretAccessKey secret = masterKey
        .open(SealedSecret.fromBase64(json.sealedSecretAccessKey()), json.accessKeyId())
        .withChars(SecretAccessKey::of);
    return new Credential(json.accessKeyId(), secret, json.principalArn());
  }

  /** The credential of {@code accessKeyId}, if the operator configured one. */
  @Override
  public Optional<Credential> lookup(String accessKeyId) {
    return Optional.ofNullable(byAccessKeyId.get(checkNotNull(accessKeyId, "accessKeyId")));
  }

  /** Every credential, in the order they were added. */
  public ImmutableList<Credential> credentials() {
    return byAccessKeyId.values().asList();
  }

  /**
   * Adds {@code credential} and rewrites the file; lookups see it once the file is written.
   *
   * @throws IllegalArgumentException if its access key id is already configured
   * @throws UncheckedIOException if the file cannot be written; the store is then unchanged
   */
  public synchronized void add(Credential credential) {
    checkNotNull(credential, "credential");
    checkArgument(!byAccessKeyId.containsKey(credential.accessKeyId()),
        "access key id %s is already configured", credential.accessKeyId());
    ImmutableMap<String, Credential> updated = ImmutableMap.<String, Credential>builder()
        .putAll(byAccessKeyId)
        .put(credential.accessKeyId(), credential)
        .buildOrThrow();
    write(updated.values().asList());
    byAccessKeyId = updated;
  }

  private void write(List<Credential> credentials) {
    List<CredentialJson> entries = credentials.stream()
        .map(credential -> new CredentialJson(
            credential.accessKeyId(),
            credential.secretAccessKey()
                .withChars(chars -> masterKey.seal(Pin.of(chars), credential.accessKeyId()))
                .toBase64(),
            credential.principalArn(),
            null))
        .toList();
    Path target = file.toAbsolutePath();
    try {
      Files.createDirectories(target.getParent());
      Path temp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      try {
        Files.write(temp, JSON.writeValueAsBytes(new FileJson(entries)));
        // Without this a crash soon after the rename could leave an empty file in the old one's place.
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
          channel.force(true);
        }
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } finally {
        Files.deleteIfExists(temp);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the credentials file " + file, e);
    }
  }

  // The JSON shape, field for field; Jackson maps records by their component names.

  private record FileJson(List<CredentialJson> credentials) {}

  /** {@code administrator} is read from old files only, and never written (null is left out). */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  private record CredentialJson(
      String accessKeyId, String sealedSecretAccessKey, String principalArn, Boolean administrator) {}
}
