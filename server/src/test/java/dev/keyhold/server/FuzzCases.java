package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableListMultimap;
import com.google.common.collect.Iterators;
import dev.keyhold.server.authz.KmsOperation;
import java.io.ByteArrayOutputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * A seeded generator of KMS requests, nearly all of them wrong: each starts from a valid request for
 * one of the operations Keyhold serves and takes one or two {@link Mutation}s. Case {@code i} of seed
 * {@code s} is drawn from a random of its own, derived from both, so it is the same on every run and
 * replays alone.
 *
 * <p>A case says how it is to be signed rather than being signed: the signature is computed over the
 * mutated request, so that a wrong body reaches the operation's code, and only the signing mutations
 * spoil it.
 */
final class FuzzCases {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  /** A member value the mutations replace in the written body by raw text no tree can hold. */
  private static final String RAW = "\u0001raw\u0001";
  static final String CONTENT_TYPE = "application/x-amz-json-1.1";
  private static final String PRINTABLE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/:.";
  private static final ImmutableList<String> ODD_CHARACTERS = ImmutableList.of(
      "\u0000", "\u0007", "\t", "\n", "\u001f", "\u007f", "\u00e9", "\u0301", "\u200b", "\u202e", "\ufeff",
      "\uffff", "\u4e2d", "\ud83d\udd11", "\"", "\\", "'", "%00", "<script>", "../", "*", "arn:aws:kms:");

  /** What is done to a valid request. */
  enum Mutation {
    NONE,
    // Of the body's tree, each on a member of a valid request.
    WRONG_TYPE,
    MISSING_MEMBER,
    NULL_MEMBER,
    EXTRA_MEMBER,
    WRONG_VALUE,
    NUMBER_OUT_OF_RANGE,
    INVALID_BASE64,
    UNICODE,
    HUGE_STRING,
    HUGE_ENCRYPTION_CONTEXT,
    DEEP_NESTING,
    // Of the body's text: applied after the tree's, which need a tree.
    DUPLICATE_MEMBER,
    CONTROL_CHARACTERS,
    INVALID_UTF8,
    TRUNCATED_JSON,
    NOT_AN_OBJECT,
    EMPTY_BODY,
    OVERSIZED_BODY,
    // Of the envelope and the signature.
    CONTENT_TYPE,
    TARGET,
    DUPLICATE_HEADER,
    EXPIRED_SIGNATURE,
    CREDENTIAL_SCOPE,
    UNKNOWN_ACCESS_KEY,
    SPOILED_SIGNATURE;

    /** The mutations of the body alone, which leave the request well signed. */
    static final ImmutableList<Mutation> OF_BODY = ImmutableList.copyOf(EnumSet.range(WRONG_TYPE, OVERSIZED_BODY));
    static final ImmutableList<Mutation> OF_ENVELOPE =
        ImmutableList.copyOf(EnumSet.range(CONTENT_TYPE, SPOILED_SIGNATURE));
  }

  /** What a case does to its request once it is signed. */
  enum AfterSigning {
    NOTHING,
    DROP_AUTHORIZATION,
    DROP_DATE,
    CORRUPT_SIGNATURE,
    TRUNCATE_AUTHORIZATION,
    WRONG_ALGORITHM,
    WRONG_PAYLOAD_HASH,
    CHANGE_BODY,
    DUPLICATE_UNSIGNED_TARGET,
    DUPLICATE_DATE
  }

  /**
   * How a case is signed: for {@code region} and {@code service}, with the clock {@code skew} away from
   * now, with the fuzzer's own access key or (when {@code unknownAccessKey}) one the service never saw,
   * then edited {@code after}.
   */
  record Signing(String region, String service, Duration skew, boolean unknownAccessKey, AfterSigning after) {}

  /**
   * One request: its operation's name (the seed it grew from, whatever its target now says), the
   * mutations it took, its headers to sign (X-Amz-Target, Content-Type), its body and its signing.
   */
  record FuzzCase(long seed, long index, String operation, List<Mutation> mutations,
      ImmutableListMultimap<String, String> headers, byte[] body, Signing signing) {
    /** The case in a few words, without its body. */
    String describe() {
      return String.format("case %d of seed %d: %s %s, %d-byte body, %s", index, seed, operation, mutations,
          body.length, signing);
    }
  }

  /**
   * The names a valid request uses: the fuzzed key, in every form a KeyId takes, a ciphertext it made
   * under {@code {"purpose": "fuzz"}}, and the account and region they live in.
   */
  record Targets(String keyId, String keyArn, String aliasName, String ciphertext, String accountId,
      String region) {}

  private final long seed;
  private final Targets targets;
  private final int maxRequestBytes;

  /** @param maxRequestBytes the service's largest body; OVERSIZED_BODY goes past it */
  FuzzCases(long seed, Targets targets, int maxRequestBytes) {
    this.seed = seed;
    this.targets = targets;
    this.maxRequestBytes = maxRequestBytes;
  }

  /** Case {@code index}: the same for the same seed, targets and index. */
  FuzzCase at(long index) {
    SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
    KmsOperation operation = pick(random, KmsOperation.values());
    List<Mutation> mutations = new ArrayList<>();
    mutations.add(mutation(random));
    if (Mutation.OF_BODY.contains(mutations.get(0)) && random.nextInt(6) == 0) {
      mutations.add(mutation(random));
    }
    mutations.sort(null);
    Request request = new Request(operation, seedBody(operation, random));
    for (Mutation mutation : mutations) {
      apply(mutation, request, random);
    }
    byte[] body = request.bytes();
    return new FuzzCase(seed, index, operation.name(), List.copyOf(mutations), request.headers.build(), body,
        request.signing);
  }

  /** Most cases mutate the body, which reaches the operations; a quarter the envelope or signature. */
  private static Mutation mutation(SplittableRandom random) {
    int roll = random.nextInt(100);
    if (roll < 5) {
      return Mutation.NONE;
    }
    if (roll < 75) {
      // OVERSIZED_BODY is the costliest to sign and send: a tenth of the others' share.
      Mutation body = pick(random, Mutation.OF_BODY);
      return body == Mutation.OVERSIZED_BODY && random.nextInt(10) != 0 ? Mutation.WRONG_TYPE : body;
    }
    return pick(random, Mutation.OF_ENVELOPE);
  }

  /** A request as it is being mutated: a tree until a mutation needs its text. */
  private final class Request {
    ObjectNode tree;
    String raw = "";
    byte[] text;
    final ImmutableListMultimap.Builder<String, String> headers = ImmutableListMultimap.builder();
    boolean targetSet;
    boolean contentTypeSet;
    Signing signing = new Signing(targets.region(), "kms", Duration.ZERO, false, AfterSigning.NOTHING);
    final KmsOperation operation;

    Request(KmsOperation operation, ObjectNode tree) {
      this.operation = operation;
      this.tree = tree;
    }

    /** The body as text, from here on edited as text. */
    byte[] text() {
      if (text == null) {
        try {
          String written = JSON.writeValueAsString(tree);
          text = written.replace(JSON.writeValueAsString(RAW), raw).getBytes(UTF_8);
        } catch (JsonProcessingException e) {
          throw new UncheckedIOException(e);
        }
      }
      return text;
    }

    byte[] bytes() {
      if (!targetSet) {
        headers.put("X-Amz-Target", "TrentService." + operation.name());
      }
      if (!contentTypeSet) {
        headers.put("Content-Type", CONTENT_TYPE);
      }
      return text();
    }
  }

  private void apply(Mutation mutation, Request request, SplittableRandom random) {
    switch (mutation) {
      case NONE -> {}
      case WRONG_TYPE -> member(request, random).set(randomValue(random, 3));
      case MISSING_MEMBER -> member(request, random).remove();
      case NULL_MEMBER -> member(request, random).set(NODES.nullNode());
      case EXTRA_MEMBER -> container(request.tree, random).set(pick(random,
          "DryRun", "Recipient", "GrantTokens", "KeyId", "Policy", randomString(random, 12)), randomValue(random, 2));
      case DUPLICATE_MEMBER -> {
        List<String> names = ImmutableList.copyOf(request.tree.fieldNames());
        String name = names.isEmpty() ? "KeyId" : pick(random, names);
        byte[] text = request.text();
        String duplicate = "{\"" + name + "\":" + JSON.valueToTree(randomString(random, 8)) + (text.length > 2 ? "," : "");
        request.text = concat(duplicate.getBytes(UTF_8), afterBrace(text));
      }
      case WRONG_VALUE -> member(request, random).set(TextNode.valueOf(pick(random, wrongValues(random))));
      case NUMBER_OUT_OF_RANGE -> {
        request.raw = pick(random, "0", "-1", "2147483648", "-2147483649", "9223372036854775808",
            "123456789012345678901234567890", "1e400", "-1e400", "1.5", "1E2", "-0", "0.0000001", "NaN", "Infinity");
        Member member = numericMember(request, random);
        member.set(TextNode.valueOf(RAW));
      }
      case INVALID_BASE64 -> blobMember(request, random).set(TextNode.valueOf(pick(random,
          "not base64!", "QQ=", "Q", "====", "-_-_", "aGVs\nbG8=", "aGVsbG8", "\u00e9\u00e9\u00e9\u00e9", " ", "")));
      case UNICODE -> stringMember(request, random).set(TextNode.valueOf(unicode(random)));
      case CONTROL_CHARACTERS -> request.text = insert(request.text(), random,
          new byte[] {(byte) random.nextInt(0x20)});
      case INVALID_UTF8 -> request.text = insert(request.text(), random, pick(random,
          new byte[] {(byte) 0xc3, 0x28}, new byte[] {(byte) 0xff}, new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
          new byte[] {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, new byte[] {(byte) 0xc0, (byte) 0xaf}));
      case HUGE_STRING -> stringMember(request, random).set(TextNode.valueOf(
          "x".repeat(1 << (10 + random.nextInt(10)))));
      case HUGE_ENCRYPTION_CONTEXT -> {
        ObjectNode context = NODES.objectNode();
        int length = random.nextInt(3) == 0 ? 1 << random.nextInt(17) : 8;
        // Up to about the largest body served, now and then past it.
        int entries = Math.max(1, Math.min(1 << random.nextInt(15), 2 * maxRequestBytes / (2 * length + 16)));
        for (int i = 0; i < entries; i++) {
          context.put(i + "-" + "k".repeat(Math.min(length, 64)), "v".repeat(length));
        }
        request.tree.set(pick(random, "EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext"),
            context);
      }
      case DEEP_NESTING -> {
        int depth = pick(random, 64, 999, 1001, 5000, 100_000);
        boolean arrays = random.nextBoolean();
        String open = arrays ? "[" : "{\"a\":";
        String close = arrays ? "]" : "}";
        String nested = open.repeat(depth) + (arrays ? "" : "1") + (random.nextInt(4) == 0 ? "" : close.repeat(depth));
        if (request.tree.has("Policy") && random.nextBoolean()) {
          request.tree.put("Policy", nested); // a policy is JSON inside a string: the policy parser's depth
        } else {
          request.raw = nested;
          member(request, random).set(TextNode.valueOf(RAW));
        }
      }
      case TRUNCATED_JSON -> request.text = slice(request.text(), 0, random.nextInt(request.text().length));
      case NOT_AN_OBJECT -> request.text = pick(random, "[]", "\"KeyId\"", "42", "null", "true", "[" + new String(
          request.text(), UTF_8) + "]", "{}{}", "{} x", "\"\\ud800\"", "{\"KeyId\":\"\\ud800\"}").getBytes(UTF_8);
      case EMPTY_BODY -> request.text = new byte[0];
      case OVERSIZED_BODY -> {
        byte[] text = request.text();
        String padding = "{\"Padding\":\"" + "p".repeat(maxRequestBytes + random.nextInt(maxRequestBytes)) + "\",";
        request.text = concat(padding.getBytes(UTF_8), afterBrace(text));
      }
      case CONTENT_TYPE -> {
        request.contentTypeSet = true;
        String type = pick(random, "", "application/json", "text/plain", "application/x-amz-json-1.0",
            "APPLICATION/X-AMZ-JSON-1.1", CONTENT_TYPE + "; charset=utf-8", CONTENT_TYPE + ";;;",
            "application/x-amz-json-1.1x", "multipart/form-data; boundary=x", "*/*", null);
        if (type != null) {
          request.headers.put("Content-Type", type);
        }
      }
      case TARGET -> {
        request.targetSet = true;
        String name = request.operation.name();
        String target = pick(random, "", "TrentService.", "TrentService.MakeCoffee", "trentservice." + name,
            "TrentService." + name.toLowerCase(Locale.ROOT), "DynamoDB_20120810.ListTables",
            "TrentService." + name + ".Extra", "TrentService." + name + " ", "TrentService.CreateGrant",
            "TrentService.Sign", ".Encrypt", "TrentService.." + name, "TrentService.%45ncrypt", null);
        if (target != null) {
          request.headers.put("X-Amz-Target", target);
        }
      }
      case DUPLICATE_HEADER -> {
        if (random.nextBoolean()) {
          request.targetSet = true;
          request.headers.put("X-Amz-Target", "TrentService." + request.operation.name());
          request.headers.put("X-Amz-Target", "TrentService." + pick(random, KmsOperation.values()).name());
        } else if (random.nextBoolean()) {
          request.contentTypeSet = true;
          request.headers.put("Content-Type", CONTENT_TYPE);
          request.headers.put("Content-Type", pick(random, CONTENT_TYPE, "application/json"));
        } else {
          request.signing = withAfter(request.signing,
              pick(random, AfterSigning.DUPLICATE_UNSIGNED_TARGET, AfterSigning.DUPLICATE_DATE));
        }
      }
      case EXPIRED_SIGNATURE -> request.signing = new Signing(request.signing.region(), request.signing.service(),
          Duration.ofSeconds(pick(random, -86_400L, -3_600L, -16 * 60L, 16 * 60L, 3_600L, 365 * 86_400L)),
          request.signing.unknownAccessKey(), request.signing.after());
      case CREDENTIAL_SCOPE -> request.signing = random.nextBoolean()
          ? new Signing(pick(random, "eu-west-1", "us-east-2", "us-east-1x", "US-EAST-1", "aws-global"),
              request.signing.service(), request.signing.skew(), request.signing.unknownAccessKey(),
              request.signing.after())
          : new Signing(request.signing.region(), pick(random, "s3", "KMS", "kms2", "trentservice", "iam"),
              request.signing.skew(), request.signing.unknownAccessKey(), request.signing.after());
      case UNKNOWN_ACCESS_KEY -> request.signing = new Signing(request.signing.region(), request.signing.service(),
          request.signing.skew(), true, request.signing.after());
      case SPOILED_SIGNATURE -> request.signing = withAfter(request.signing, pick(random,
          AfterSigning.DROP_AUTHORIZATION, AfterSigning.DROP_DATE, AfterSigning.CORRUPT_SIGNATURE,
          AfterSigning.TRUNCATE_AUTHORIZATION, AfterSigning.WRONG_ALGORITHM, AfterSigning.WRONG_PAYLOAD_HASH,
          AfterSigning.CHANGE_BODY));
    }
  }

  private static Signing withAfter(Signing signing, AfterSigning after) {
    return new Signing(signing.region(), signing.service(), signing.skew(), signing.unknownAccessKey(), after);
  }

  /** A valid request for {@code operation} on the fuzzed key, or naming a custom key store no one has. */
  private ObjectNode seedBody(KmsOperation operation, SplittableRandom random) {
    ObjectNode body = NODES.objectNode();
    String store = "cks-" + hex(random, 17);
    switch (operation) {
      case CreateCustomKeyStore -> body.put("CustomKeyStoreName", "fuzz-" + hex(random, 8))
          .put("CloudHsmClusterId", "cluster-" + hex(random, 11))
          .put("TrustAnchorCertificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----")
          .put("KeyStorePassword", "fuzz-" + hex(random, 8));
      case DescribeCustomKeyStores -> {
        body.put("Limit", 1 + random.nextInt(1000));
        if (random.nextBoolean()) {
          body.put("CustomKeyStoreId", store);
        }
      }
      case UpdateCustomKeyStore -> body.put("CustomKeyStoreId", store).put("NewCustomKeyStoreName", "fuzz-" + hex(random, 8));
      case ConnectCustomKeyStore, DisconnectCustomKeyStore, DeleteCustomKeyStore -> body.put("CustomKeyStoreId", store);
      case CreateKey -> {
        body.put("Description", "fuzz " + hex(random, 8)).put("KeyUsage", "ENCRYPT_DECRYPT")
            .put("KeySpec", "SYMMETRIC_DEFAULT");
        if (random.nextBoolean()) {
          body.set("Tags", tags(random));
        }
        if (random.nextBoolean()) {
          body.put("Policy", policy());
        }
      }
      case ListKeys -> body.put("Limit", 1 + random.nextInt(1000));
      case ListAliases, ListResourceTags, ListKeyPolicies -> body.put("KeyId", keyId(random))
          .put("Limit", 1 + random.nextInt(100));
      case ScheduleKeyDeletion -> body.put("KeyId", keyId(random)).put("PendingWindowInDays", 7 + random.nextInt(24));
      case UpdateKeyDescription -> body.put("KeyId", keyId(random)).put("Description", "fuzz " + hex(random, 8));
      case CreateAlias, UpdateAlias -> body.put("AliasName", "alias/fuzz-" + random.nextInt(20))
          .put("TargetKeyId", targets.keyId());
      case DeleteAlias -> body.put("AliasName", "alias/fuzz-" + random.nextInt(20));
      case TagResource -> body.put("KeyId", keyId(random)).set("Tags", tags(random));
      case UntagResource -> body.put("KeyId", keyId(random)).set("TagKeys", NODES.arrayNode().add("fuzz-0"));
      case PutKeyPolicy -> body.put("KeyId", keyId(random)).put("PolicyName", "default").put("Policy", policy())
          .put("BypassPolicyLockoutSafetyCheck", false);
      case GetKeyPolicy -> body.put("KeyId", keyId(random)).put("PolicyName", "default");
      case Encrypt -> {
        byte[] plaintext = new byte[1 + random.nextInt(random.nextBoolean() ? 64 : 4096)];
        random.nextBytes(plaintext);
        body.put("KeyId", keyId(random)).put("Plaintext", Base64.getEncoder().encodeToString(plaintext))
            .set("EncryptionContext", context());
      }
      case Decrypt -> body.put("CiphertextBlob", targets.ciphertext()).put("KeyId", keyId(random))
          .set("EncryptionContext", context());
      case ReEncrypt -> {
        body.put("CiphertextBlob", targets.ciphertext()).put("DestinationKeyId", keyId(random));
        body.set("SourceEncryptionContext", context());
        body.set("DestinationEncryptionContext", context());
      }
      case GenerateDataKey, GenerateDataKeyWithoutPlaintext -> {
        body.put("KeyId", keyId(random)).set("EncryptionContext", context());
        if (random.nextBoolean()) {
          body.put("KeySpec", pick(random, "AES_256", "AES_128"));
        } else {
          body.put("NumberOfBytes", 1 + random.nextInt(1024));
        }
      }
      case GenerateRandom -> body.put("NumberOfBytes", 1 + random.nextInt(1024));
      case CreateGrant -> {
        body.put("KeyId", keyId(random)).put("GranteePrincipal", "arn:aws:iam::111122223333:user/fuzz")
            .put("RetiringPrincipal", "arn:aws:iam::111122223333:user/fuzz").put("Name", "fuzz-" + random.nextInt(4));
        body.putArray("Operations").add("Encrypt").add(pick(random, "Decrypt", "RetireGrant", "CreateGrant"));
        if (random.nextBoolean()) {
          body.putObject("Constraints").set(pick(random, "EncryptionContextSubset", "EncryptionContextEquals"),
              context());
        }
      }
      case ListGrants -> body.put("KeyId", keyId(random)).put("Limit", 1 + random.nextInt(100));
      case ListRetirableGrants -> body.put("RetiringPrincipal", "arn:aws:iam::111122223333:user/fuzz")
          .put("Limit", 1 + random.nextInt(100));
      case RetireGrant, RevokeGrant -> body.put("KeyId", keyId(random)).put("GrantId", hex(random, 64));
      default -> body.put("KeyId", keyId(random)); // the operations that take a KeyId alone
    }
    return body;
  }

  private String keyId(SplittableRandom random) {
    return pick(random, targets.keyId(), targets.keyArn(), targets.aliasName(),
        "arn:aws:kms:" + targets.region() + ":" + targets.accountId() + ":" + targets.aliasName());
  }

  private static ObjectNode context() {
    return NODES.objectNode().put("purpose", "fuzz");
  }

  private static ArrayNode tags(SplittableRandom random) {
    ArrayNode tags = NODES.arrayNode();
    for (int i = random.nextInt(3); i >= 0; i--) {
      tags.addObject().put("TagKey", "fuzz-" + i).put("TagValue", hex(random, 6));
    }
    return tags;
  }

  /** A policy that keeps the account's root in control of the key, so that later cases still reach it. */
  private String policy() {
    return "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::"
        + targets.accountId() + ":root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
  }

  private List<String> wrongValues(SplittableRandom random) {
    return List.of("", " ", "alias/", "alias/aws/fuzz", "ALIAS/fuzz", targets.keyId().toUpperCase(Locale.ROOT),
        "arn:aws:kms:eu-west-1:" + targets.accountId() + ":key/" + targets.keyId(),
        "arn:aws:kms:" + targets.region() + ":444455556666:key/" + targets.keyId(), "arn:aws:kms:::",
        "mrk-" + hex(random, 32), "cks-", "SYMMETRIC_DEFAULT", "RSA_2048", "EXTERNAL", "AWS_CLOUDHSM",
        "SIGN_VERIFY", "alias/" + "a".repeat(300), randomString(random, 1 + random.nextInt(40)),
        "{\"Version\":\"2012-10-17\",\"Statement\":[]}", "{\"Statement\":[{\"Effect\":\"Deny\"}]}");
  }

  /** A member of the body's object, or of an object or array inside it. */
  private static Member member(Request request, SplittableRandom random) {
    JsonNode container = container(request.tree, random);
    if (container instanceof ArrayNode array && !array.isEmpty()) {
      return new Member(container, null, random.nextInt(array.size()));
    }
    ObjectNode object = (ObjectNode) (container.isObject() ? container : request.tree);
    if (object.isEmpty()) {
      return new Member(object, "KeyId", -1);
    }
    return new Member(object, Iterators.get(object.fieldNames(), random.nextInt(object.size())), -1);
  }

  /** The root, or now and then an object or array inside it, for a mutation to reach nested members. */
  private static ObjectNode container(ObjectNode root, SplittableRandom random) {
    for (JsonNode value : root) {
      if (value.isContainerNode() && !value.isEmpty() && random.nextInt(4) == 0) {
        JsonNode inner = value.isArray() ? value.get(random.nextInt(value.size())) : value;
        if (inner.isObject()) {
          return (ObjectNode) inner;
        }
      }
    }
    return root;
  }

  private static Member numericMember(Request request, SplittableRandom random) {
    return named(request, random, "Limit", "NumberOfBytes", "PendingWindowInDays");
  }

  private static Member blobMember(Request request, SplittableRandom random) {
    return named(request, random, "Plaintext", "CiphertextBlob");
  }

  private static Member stringMember(Request request, SplittableRandom random) {
    return named(request, random, "KeyId", "Description", "AliasName", "TargetKeyId", "Policy", "PolicyName",
        "CustomKeyStoreName", "CustomKeyStoreId", "KeyStorePassword", "TrustAnchorCertificate", "DestinationKeyId",
        "Marker", "KeySpec");
  }

  /** One of the body's members named {@code names}, else any member. */
  private static Member named(Request request, SplittableRandom random, String... names) {
    List<String> present = new ArrayList<>();
    for (String name : names) {
      if (request.tree.has(name)) {
        present.add(name);
      }
    }
    return present.isEmpty() ? member(request, random) : new Member(request.tree, pick(random, present), -1);
  }

  /** A place in the tree: a name in an object, or an index in an array. */
  private record Member(JsonNode container, String name, int index) {
    void set(JsonNode value) {
      if (container instanceof ArrayNode array) {
        array.set(index, value);
      } else {
        ((ObjectNode) container).set(name, value);
      }
    }

    void remove() {
      if (container instanceof ArrayNode array) {
        array.remove(index);
      } else {
        ((ObjectNode) container).remove(name);
      }
    }
  }

  /** A value of any JSON type, nested at most {@code depth} deep. */
  private static JsonNode randomValue(SplittableRandom random, int depth) {
    int kind = random.nextInt(depth > 0 ? 8 : 6);
    return switch (kind) {
      case 0 -> NODES.numberNode(random.nextInt());
      case 1 -> NODES.numberNode(random.nextDouble() * 1e6);
      case 2 -> NODES.booleanNode(random.nextBoolean());
      case 3 -> NODES.nullNode();
      case 4 -> TextNode.valueOf(randomString(random, random.nextInt(20)));
      case 5 -> NODES.numberNode(new BigInteger(100, new Random(random.nextLong())));
      case 6 -> {
        ArrayNode array = NODES.arrayNode();
        for (int i = random.nextInt(4); i > 0; i--) {
          array.add(randomValue(random, depth - 1));
        }
        yield array;
      }
      default -> {
        ObjectNode object = NODES.objectNode();
        for (int i = random.nextInt(4); i > 0; i--) {
          object.set(randomString(random, 6), randomValue(random, depth - 1));
        }
        yield object;
      }
    };
  }

  private static String unicode(SplittableRandom random) {
    StringBuilder text = new StringBuilder();
    for (int i = 1 + random.nextInt(16); i > 0; i--) {
      text.append(random.nextBoolean() ? pick(random, ODD_CHARACTERS) : randomString(random, 3));
    }
    return text.toString();
  }

  private static String randomString(SplittableRandom random, int length) {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < length; i++) {
      text.append(PRINTABLE.charAt(random.nextInt(PRINTABLE.length())));
    }
    return text.toString();
  }

  private static String hex(SplittableRandom random, int length) {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < length; i++) {
      text.append(Character.forDigit(random.nextInt(16), 16));
    }
    return text.toString();
  }

  private static byte[] insert(byte[] text, SplittableRandom random, byte[] inserted) {
    int at = random.nextInt(text.length + 1);
    return concat(concat(slice(text, 0, at), inserted), slice(text, at, text.length));
  }

  /** {@code text} without its opening brace, to go on after members put before its own; an empty one stays empty. */
  private static byte[] afterBrace(byte[] text) {
    return slice(text, Math.min(1, text.length), text.length);
  }

  private static byte[] slice(byte[] bytes, int from, int to) {
    return Arrays.copyOfRange(bytes, from, to);
  }

  private static byte[] concat(byte[] first, byte[] second) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(first.length + second.length);
    out.writeBytes(first);
    out.writeBytes(second);
    return out.toByteArray();
  }

  @SafeVarargs
  private static <T> T pick(SplittableRandom random, T... choices) {
    return choices[random.nextInt(choices.length)];
  }

  private static <T> T pick(SplittableRandom random, List<T> choices) {
    return choices.get(random.nextInt(choices.size()));
  }
}
