package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.DisabledException;
import static dev.keyhold.kms.error.KmsErrorType.InvalidGrantIdException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInvalidStateException;
import static dev.keyhold.kms.error.KmsErrorType.LimitExceededException;
import static dev.keyhold.kms.error.KmsErrorType.NotFoundException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static dev.keyhold.kms.error.Validation.count;
import static dev.keyhold.kms.error.Validation.enumValue;
import static dev.keyhold.kms.error.Validation.length;
import static dev.keyhold.kms.error.Validation.pattern;
import static dev.keyhold.kms.error.Validation.range;
import static dev.keyhold.kms.error.Validation.required;
import static dev.keyhold.kms.error.Validation.text;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.error.Page;
import dev.keyhold.kms.metadata.MetadataStore;
import dev.keyhold.kms.secret.MasterKey;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Grants on KMS keys: CreateGrant, ListGrants, ListRetirableGrants, and the deletion RetireGrant and
 * RevokeGrant share, with AWS's members, limits and errors. Who may call them, and what a grant lets
 * its grantee do, is the caller's to decide (the server's key access); this class keeps the grants.
 *
 * <p>A key's grants are read with the key ({@link ResolvedKey#grants()}), so deciding whether a grant
 * allows a request reads no database; every change to them goes through the key cache's one
 * invalidation point ({@link KeyRecords#changed}), so every node sees it once it commits. A key's
 * deletion deletes its grants (the table's foreign key).
 *
 * <p>CreateGrant with a Name is idempotent, as AWS's: a grant of the same key, name, grantee, retiring
 * principal, operations and constraints is answered with its id, and a new token. Tokens
 * ({@link GrantTokens}) are checked without reading the database.
 */
public final class KeyGrants {
  private static final int MAX_GRANTS_PER_KEY = 50_000;
  private static final int DEFAULT_LIMIT = 50;
  private static final Pattern PRINCIPAL = Pattern.compile("^[\\w+=,.@:/-]+$");
  private static final Pattern GRANT_NAME = Pattern.compile("^[a-zA-Z0-9:/_-]+$");
  private static final Pattern GRANT_ID = Pattern.compile("[0-9a-f]{64}");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String COLUMNS = "grant_id, key_id, grant_name, grantee_principal, retiring_principal, "
      + "operations, grant_constraints, issuing_account, creation_date";

  private final MetadataStore metadata;
  private final KeyRecords keys;
  private final Account account;
  private final Clock clock;
  private final GrantTokens tokens;
  private final SecureRandom random = new SecureRandom();

  public KeyGrants(MetadataStore metadata, KmsKeys keys, MasterKey masterKey, Account account, Clock clock) {
    this.metadata = metadata;
    this.keys = keys.resolver();
    this.account = account;
    this.clock = clock;
    this.tokens = new GrantTokens(masterKey);
  }

  /** The operations a grant may allow: AWS's GrantOperation. */
  enum GrantOperation {
    Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, Sign, Verify,
    GetPublicKey, CreateGrant, RetireGrant, DescribeKey, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext,
    GenerateMac, VerifyMac, DeriveSharedSecret, Encapsulate, Decapsulate
  }

  /**
   * CreateGrant on {@code key}, which the request named: the key must be enabled, or in a disconnected
   * store (Unavailable), as AWS's key-state table has it.
   *
   * @throws KmsException ValidationException for a member out of AWS's bounds, DisabledException,
   *     KMSInvalidStateException (pending deletion), LimitExceededException past 50,000 grants on the key,
   *     DryRunOperationException for a dry run that would have succeeded
   */
  public CreateGrantResponse createGrant(ResolvedKey key, CreateGrantRequest request) {
    String grantee = principal(required(request.granteePrincipal(), "granteePrincipal"), "granteePrincipal");
    String retiring = principal(request.retiringPrincipal(), "retiringPrincipal");
    List<String> operations = operations(request.operations());
    GrantConstraints constraints = constraints(request.constraints());
    String name = pattern(length(request.name(), "name", 1, 256), "name", GRANT_NAME);
    String grantId = metadata.inTransaction(c -> {
      KeyRecord current = keys.current(c, key.keyId());
      switch (current.state()) {
        case Disabled -> throw new KmsException(DisabledException, current.arn() + " is disabled.");
        case PendingDeletion ->
            throw new KmsException(KMSInvalidStateException, current.arn() + " is pending deletion.");
        default -> { }
      }
      if (DryRun.requested(request.dryRun())) {
        throw DryRun.succeeded();
      }
      List<GrantListEntry> existing = read(c, account, current.keyId());
      if (name != null) {
        Optional<GrantListEntry> same = existing.stream().filter(grant -> name.equals(grant.name())
            && grantee.equals(grant.granteePrincipal()) && Objects.equals(retiring, grant.retiringPrincipal())
            && Set.copyOf(operations).equals(Set.copyOf(grant.operations()))
            && Objects.equals(constraints, grant.constraints())).findFirst();
        if (same.isPresent()) {
          return same.get().grantId();
        }
      }
      if (existing.size() >= MAX_GRANTS_PER_KEY) {
        throw new KmsException(LimitExceededException,
            "The request was rejected because key " + current.arn() + " has " + MAX_GRANTS_PER_KEY + " grants.");
      }
      String id = newGrantId();
      insert(c, current.keyId(), new GrantListEntry(current.arn(), id, name, clock.instant(), grantee, retiring,
          "arn:aws:iam::" + account.accountId() + ":root", operations, constraints));
      keys.changed(c, current.keyId());
      return id;
    });
    return new CreateGrantResponse(tokens.issue(key.keyId(), grantId), grantId);
  }

  /**
   * ListGrants: {@code key}'s grants, oldest first, or only the one {@code grantId} names, or only
   * {@code granteePrincipal}'s; Limit 1 to 100 (default 50), the Marker a grant id. In any key state.
   */
  public ListGrantsResponse listGrants(ResolvedKey key, Integer limit, String marker, String grantId,
      String granteePrincipal) {
    int pageSize = Optional.ofNullable(range(limit, "limit", 1, 100)).orElse(DEFAULT_LIMIT);
    text(marker, "marker", 1, 1024);
    length(grantId, "grantId", 1, 128);
    principal(granteePrincipal, "granteePrincipal");
    List<GrantListEntry> matching = key.grants().stream()
        .filter(grant -> grantId == null || grant.grantId().equals(grantId))
        .filter(grant -> granteePrincipal == null || grant.granteePrincipal().equals(granteePrincipal))
        .toList();
    return page(matching, pageSize, marker);
  }

  /** ListRetirableGrants: the grants of every key that {@code retiringPrincipal} may retire, oldest first. */
  public ListGrantsResponse listRetirableGrants(String retiringPrincipal, Integer limit, String marker) {
    String principal = principal(required(retiringPrincipal, "retiringPrincipal"), "retiringPrincipal");
    int pageSize = Optional.ofNullable(range(limit, "limit", 1, 100)).orElse(DEFAULT_LIMIT);
    text(marker, "marker", 1, 1024);
    List<GrantListEntry> all = metadata.inTransaction(c -> select(c, account,
        "SELECT " + COLUMNS + " FROM key_grants WHERE retiring_principal = ? ORDER BY creation_date, grant_id",
        principal));
    return page(all, pageSize, marker);
  }

  /**
   * The grant a RetireGrant names: by its token (checked without reading the database), else by KeyId
   * and GrantId. The key is resolved as any request's, so that its grants are the cache's.
   *
   * @throws KmsException InvalidGrantTokenException, ValidationException if neither is given,
   *     InvalidGrantIdException for an id no grant has, NotFoundException if the grant is gone
   */
  public NamedGrant named(String grantToken, String keyId, String grantId) {
    if (grantToken != null) {
      length(grantToken, "grantToken", 1, 8192);
      GrantTokens.Granted granted = tokens.verify(grantToken);
      return named(keys.resolve(granted.keyId()), granted.grantId());
    }
    if (keyId == null || grantId == null) {
      throw new KmsException(ValidationException, "Either GrantToken, or both KeyId and GrantId, must be specified.");
    }
    return named(keys.resolve(keyId), grantId);
  }

  /** The grant {@code grantId} of {@code key}, for RevokeGrant; errors as {@link #named(String, String, String)}. */
  public NamedGrant named(ResolvedKey key, String grantId) {
    length(required(grantId, "grantId"), "grantId", 1, 128);
    if (!GRANT_ID.matcher(grantId).matches()) {
      throw new KmsException(InvalidGrantIdException, "Invalid grant ID " + grantId + ".");
    }
    GrantListEntry grant = key.grants().stream().filter(g -> g.grantId().equals(grantId)).findFirst()
        .orElseThrow(() -> notFound(key, grantId));
    return new NamedGrant(key, grant);
  }

  private static KmsException notFound(ResolvedKey key, String grantId) {
    return new KmsException(NotFoundException, "Grant ID " + grantId + " not found for key " + key.arn() + ".");
  }

  /** A grant and its key, as a request named them. */
  public record NamedGrant(ResolvedKey key, GrantListEntry grant) {}

  /**
   * RetireGrant and RevokeGrant, which differ only in who may call them: deletes the grant, in any key
   * state. A grant another request deleted meanwhile is NotFoundException.
   *
   * @throws KmsException DryRunOperationException for a dry run of a grant still there
   */
  public void deleteGrant(NamedGrant named, Boolean dryRun) {
    String keyId = named.key().keyId();
    String grantId = named.grant().grantId();
    metadata.inTransaction(c -> {
      keys.current(c, keyId); // locked: a deletion of the key or another change of its grants waits
      try (PreparedStatement delete = c.prepareStatement("DELETE FROM key_grants WHERE grant_id = ? AND key_id = ?")) {
        delete.setString(1, grantId);
        delete.setString(2, keyId);
        if (delete.executeUpdate() == 0) {
          throw notFound(named.key(), grantId);
        }
      }
      if (DryRun.requested(dryRun)) {
        throw DryRun.succeeded(); // which rolls the deletion back with the transaction
      }
      keys.changed(c, keyId);
      return null;
    });
  }

  /**
   * Checks a request's GrantTokens: at most 10, each one of this service's. A grant takes effect on
   * the node that made it as its CreateGrant commits, and on the others when the metadata store's
   * notification comes; a token lets its grant be used at once anywhere: a node whose cached key
   * lacks the grant the token names looks the grant up, and if it is there reads the key again. A
   * token adds no right its grant does not have, and one of a grant since deleted costs only its own
   * request that lookup.
   *
   * @throws KmsException ValidationException, InvalidGrantTokenException
   */
  public void checkGrantTokens(List<String> grantTokens) {
    if (grantTokens == null) {
      return;
    }
    count(grantTokens, "grantTokens", 0, 10);
    for (int i = 0; i < grantTokens.size(); i++) {
      String member = "grantTokens." + (i + 1) + ".member";
      GrantTokens.Granted granted = tokens.verify(length(required(grantTokens.get(i), member), member, 1, 8192));
      if (keys.cachedWithoutGrant(granted.keyId(), granted.grantId()) && isStored(granted)) {
        keys.forget(granted.keyId());
      }
    }
  }

  private boolean isStored(GrantTokens.Granted granted) {
    return metadata.inTransaction(c -> {
      try (PreparedStatement select = c.prepareStatement("SELECT 1 FROM key_grants WHERE grant_id = ? AND key_id = ?")) {
        select.setString(1, granted.grantId());
        select.setString(2, granted.keyId());
        try (ResultSet row = select.executeQuery()) {
          return row.next();
        }
      }
    });
  }

  /** {@code keyId}'s grants, oldest first, in the caller's transaction; for the key cache. */
  static List<GrantListEntry> read(Connection c, Account account, String keyId) throws SQLException {
    return select(c, account, "SELECT " + COLUMNS + " FROM key_grants WHERE key_id = ? ORDER BY creation_date, grant_id",
        keyId);
  }

  private static List<GrantListEntry> select(Connection c, Account account, String sql, String argument)
      throws SQLException {
    try (PreparedStatement select = c.prepareStatement(sql)) {
      select.setString(1, argument);
      try (ResultSet rows = select.executeQuery()) {
        List<GrantListEntry> grants = new ArrayList<>();
        while (rows.next()) {
          grants.add(entry(rows, account));
        }
        return grants;
      }
    }
  }

  /** Every key's grants by key id, oldest first, in the caller's transaction; for the key cache's fill at start. */
  static Map<String, List<GrantListEntry>> all(Connection c, Account account) throws SQLException {
    Map<String, List<GrantListEntry>> byKey = new HashMap<>();
    try (PreparedStatement select = c.prepareStatement(
            "SELECT " + COLUMNS + " FROM key_grants ORDER BY creation_date, grant_id");
        ResultSet rows = select.executeQuery()) {
      while (rows.next()) {
        byKey.computeIfAbsent(rows.getString(2), keyId -> new ArrayList<>()).add(entry(rows, account));
      }
    }
    return byKey;
  }

  /** The grant on the row {@code rows} is at (columns in {@link #COLUMNS}' order). */
  private static GrantListEntry entry(ResultSet rows, Account account) throws SQLException {
    return new GrantListEntry(account.keyArn(rows.getString(2)), rows.getString(1), rows.getString(3),
        Instant.ofEpochMilli(rows.getLong(9)), rows.getString(4), rows.getString(5), rows.getString(8),
        List.of(rows.getString(6).split(",")), constraintsOf(rows.getString(7)));
  }

  private static void insert(Connection c, String keyId, GrantListEntry grant) throws SQLException {
    try (PreparedStatement insert = c.prepareStatement(
        "INSERT INTO key_grants (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
      insert.setString(1, grant.grantId());
      insert.setString(2, keyId);
      insert.setString(3, grant.name());
      insert.setString(4, grant.granteePrincipal());
      insert.setString(5, grant.retiringPrincipal());
      insert.setString(6, String.join(",", grant.operations()));
      if (grant.constraints() == null) {
        insert.setNull(7, Types.VARCHAR);
      } else {
        insert.setString(7, jsonOf(grant.constraints()));
      }
      insert.setString(8, grant.issuingAccount());
      insert.setLong(9, grant.creationDate().toEpochMilli());
      insert.executeUpdate();
    }
  }

  private ListGrantsResponse page(List<GrantListEntry> grants, int pageSize, String marker) {
    Page<GrantListEntry> page = Page.of(grants, GrantListEntry::grantId, pageSize, marker);
    return new ListGrantsResponse(page.items(), page.nextMarker(), page.truncated());
  }

  private String newGrantId() {
    byte[] id = new byte[32];
    random.nextBytes(id);
    return HexFormat.of().formatHex(id);
  }

  private static String principal(String principal, String member) {
    return pattern(length(principal, member, 1, 256), member, PRINCIPAL);
  }

  private static List<String> operations(List<String> operations) {
    required(operations, "operations");
    count(operations, "operations", 1, GrantOperation.values().length);
    for (int i = 0; i < operations.size(); i++) {
      enumValue(GrantOperation.class, operations.get(i), "operations." + (i + 1) + ".member");
    }
    return operations.stream().distinct().toList();
  }

  /** The constraints as stored: null when none is set, an empty map as no constraint, as AWS treats it. */
  private static GrantConstraints constraints(GrantConstraints constraints) {
    if (constraints == null) {
      return null;
    }
    Map<String, String> equals = emptyToNull(constraints.encryptionContextEquals());
    Map<String, String> subset = emptyToNull(constraints.encryptionContextSubset());
    if (equals != null && subset != null) {
      throw new KmsException(ValidationException,
          "A grant's constraints may have EncryptionContextEquals or EncryptionContextSubset, not both.");
    }
    if (equals == null && subset == null) {
      return null;
    }
    GrantConstraints checked = new GrantConstraints(subset, equals);
    text(jsonOf(checked), "constraints", 0, 32_768);
    return checked;
  }

  private static Map<String, String> emptyToNull(Map<String, String> map) {
    return map == null || map.isEmpty() ? null : map;
  }

  private static String jsonOf(GrantConstraints constraints) {
    Map<String, Map<String, String>> json = new LinkedHashMap<>();
    if (constraints.encryptionContextEquals() != null) {
      json.put("EncryptionContextEquals", constraints.encryptionContextEquals());
    }
    if (constraints.encryptionContextSubset() != null) {
      json.put("EncryptionContextSubset", constraints.encryptionContextSubset());
    }
    try {
      return JSON.writeValueAsString(json);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write constraints", e);
    }
  }

  private static GrantConstraints constraintsOf(String json) {
    if (json == null) {
      return null;
    }
    try {
      Map<String, Map<String, String>> read = JSON.readValue(json, new TypeReference<>() {});
      return new GrantConstraints(read.get("EncryptionContextSubset"), read.get("EncryptionContextEquals"));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a grant's stored constraints are not JSON", e);
    }
  }
}
