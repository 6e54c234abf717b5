package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.IncorrectKeyException;
import software.amazon.awssdk.services.kms.model.InvalidCiphertextException;

/**
 * Requests no well-behaved client sends, each answered with an AWS error (never a 500), on a
 * connection that then serves the next request.
 */
class BadInputTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final String PLAINTEXT = Base64.getEncoder().encodeToString("attack at dawn".getBytes(UTF_8));

  @TempDir static Path data;
  private static TestKeyhold keyhold;
  private static KmsClient sdk;
  private static String keyId;
  private RawRequests connection;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, 0);
    sdk = keyhold.client(keyhold.alice);
    keyId = sdk.createKey(r -> r.description("bad input")).keyMetadata().keyId();
  }

  @AfterAll
  static void stop() {
    sdk.close();
    keyhold.close();
    assertThat(keyhold.outcomes).isNotEmpty().allSatisfy(outcome -> assertThat(outcome.httpStatus()).isLessThan(500));
  }

  @BeforeEach
  void connect() throws IOException {
    connection = new RawRequests(keyhold.endpoint(), keyhold.alice);
  }

  /** Every test's connection serves a good request after the bad one. */
  @AfterEach
  void stillServes() throws IOException {
    RawRequests.Response next = connection.call("TrentService.Encrypt",
        "{\"KeyId\": \"" + keyId + "\", \"Plaintext\": \"" + PLAINTEXT + "\"}");
    assertThat(next.status()).isEqualTo(200);
    assertThat(next.json().path("KeyId").asText()).endsWith(keyId);
    connection.close();
  }

  @Test
  void malformedJson() throws IOException {
    RawRequests.Response response = connection.call("TrentService.Encrypt", "{\"KeyId\": \"" + keyId + "\", ");

    assertError(response, 400,
        "SerializationException: The request body is not a valid JSON object (line 1, column 51).");
  }

  @Test
  void aBodyThatIsNotAnObject() throws IOException {
    assertError(connection.call("TrentService.GenerateRandom", "[32]"), 400,
        "SerializationException: The request body is not a valid JSON object (line 1, column 1).");
    assertError(connection.call("TrentService.GenerateRandom", "null"), 400,
        "SerializationException: The request body must be a JSON object, not null.");
    assertError(connection.call("TrentService.GenerateRandom", "{} {}"), 400,
        "SerializationException: The request body is not a valid JSON object (line 1, column 4).");
  }

  @Test
  void wrongContentType() throws IOException {
    RawRequests.Response response = connection.send(
        Map.of("X-Amz-Target", "TrentService.GenerateRandom", "Content-Type", "application/json"),
        "{\"NumberOfBytes\": 8}".getBytes(UTF_8));

    assertError(response, 400, "UnknownOperationException: Keyhold serves the AWS JSON 1.1 protocol: the "
        + "Content-Type must be application/x-amz-json-1.1.");
  }

  @Test
  void unknownTarget() throws IOException {
    assertError(connection.call("TrentService.MakeCoffee", "{}"), 400,
        "UnknownOperationException: Unknown operation TrentService.MakeCoffee.");
    assertError(connection.call("DynamoDB_20120810.ListTables", "{}"), 400,
        "UnknownOperationException: Unknown operation DynamoDB_20120810.ListTables.");
    assertError(connection.send(Map.of("Content-Type", "application/x-amz-json-1.1"), "{}".getBytes(UTF_8)), 400,
        "UnknownOperationException: The request has no X-Amz-Target header.");
  }

  /**
   * Found by FuzzTest on PostgreSQL, whose text cannot hold U+0000: the write failed there with a 500.
   * Every metadata store now refuses it alike, before anything is written.
   */
  @Test
  void textWithANulCharacter() throws IOException {
    assertError(connection.call("TrentService.UpdateKeyDescription",
            "{\"KeyId\": \"" + keyId + "\", \"Description\": \"a\\u0000b\"}"), 400,
        "ValidationException: 1 validation error detected: Value 'a\u0000b' at 'description' failed to satisfy "
            + "constraint: Member must satisfy regular expression pattern: [^\\u0000]*");
    assertError(connection.call("TrentService.TagResource",
            "{\"KeyId\": \"" + keyId + "\", \"Tags\": [{\"TagKey\": \"k\\u0000\", \"TagValue\": \"v\"}]}"), 400,
        "ValidationException: 1 validation error detected: Value 'k\u0000' at 'tags.1.member.tagKey' failed to "
            + "satisfy constraint: Member must satisfy regular expression pattern: [^\\u0000]*");
  }

  @Test
  void missingField() throws IOException {
    assertError(connection.call("TrentService.Encrypt", "{\"KeyId\": \"" + keyId + "\"}"), 400,
        "ValidationException: 1 validation error detected: Value null at 'plaintext' failed to satisfy "
            + "constraint: Member must not be null");
    assertError(connection.call("TrentService.Encrypt", "{\"Plaintext\": \"" + PLAINTEXT + "\"}"), 400,
        "ValidationException: 1 validation error detected: Value null at 'keyId' failed to satisfy "
            + "constraint: Member must not be null");
    assertError(connection.call("TrentService.GenerateRandom", "{}"), 400,
        "ValidationException: NumberOfBytes is required.");
  }

  @Test
  void wrongTypedField() throws IOException {
    assertError(connection.call("TrentService.Encrypt", "{\"KeyId\": 5, \"Plaintext\": \"" + PLAINTEXT + "\"}"), 400,
        "SerializationException: The value of KeyId has the wrong type.");
    assertError(connection.call("TrentService.GenerateRandom", "{\"NumberOfBytes\": \"32\"}"), 400,
        "SerializationException: The value of NumberOfBytes has the wrong type.");
    assertError(connection.call("TrentService.Encrypt",
            "{\"KeyId\": \"" + keyId + "\", \"Plaintext\": \"" + PLAINTEXT + "\", \"EncryptionContext\": {\"a\": 1}}"),
        400, "SerializationException: The value of EncryptionContext.a has the wrong type.");
    assertError(connection.call("TrentService.TagResource",
            "{\"KeyId\": \"" + keyId + "\", \"Tags\": [{\"TagKey\": \"a\", \"TagValue\": \"b\"}, {\"TagKey\": []}]}"),
        400, "SerializationException: The value of Tags[1].TagKey has the wrong type.");
  }

  @Test
  void invalidBase64() throws IOException {
    RawRequests.Response response =
        connection.call("TrentService.Encrypt", "{\"KeyId\": \"" + keyId + "\", \"Plaintext\": \"not*base64!\"}");

    assertError(response, 400, "SerializationException: The value of Plaintext is not valid base64.");
  }

  /** Not bad, only slow: a body that arrives in two parts is read whole (its signature covers every byte). */
  @Test
  void aBodyInTwoParts() throws IOException, InterruptedException {
    byte[] body = ("{\"KeyId\": \"" + keyId + "\", \"Plaintext\": \"" + PLAINTEXT + "\"}").getBytes(UTF_8);
    RawRequests.Response response = connection.sendInTwoParts(Map.of("X-Amz-Target", "TrentService.Encrypt",
        "Content-Type", "application/x-amz-json-1.1"), body, Duration.ofMillis(200));
    assertThat(response.status()).isEqualTo(200);
    assertThat(response.json().path("KeyId").asText()).endsWith(keyId);
  }

  @Test
  void aTenMegabyteBody() throws IOException {
    byte[] body = new byte[10 << 20];
    Arrays.fill(body, (byte) ' ');
    body[0] = '{';
    body[body.length - 1] = '}';

    RawRequests.Response response = connection.send(
        Map.of("X-Amz-Target", "TrentService.Encrypt", "Content-Type", "application/x-amz-json-1.1"), body);

    assertError(response, 413, "ValidationException: The request body is larger than 1048576 bytes.");
    assertThat(response.headers()).doesNotContainEntry("connection", "close");
  }

  @Test
  void dryRunIsRefusedRatherThanRun() throws IOException {
    assertError(connection.call("TrentService.DisableKey", "{\"KeyId\": \"" + keyId + "\", \"DryRun\": true}"), 400,
        "UnsupportedOperationException: Keyhold does not support DryRun.");
  }

  @Test
  void unknownMembersAreSkipped() throws IOException {
    RawRequests.Response response = connection.call("TrentService.GenerateRandom",
        "{\"NumberOfBytes\": 8, \"SomethingNew\": {\"nested\": [1, 2]}, \"DryRun\": false}");

    assertThat(response.status()).isEqualTo(200);
    assertThat(Base64.getDecoder().decode(response.json().path("Plaintext").asText())).hasSize(8);
  }

  @Test
  void aCiphertextFromAnotherKey() {
    String otherKeyId = sdk.createKey(r -> r.description("other")).keyMetadata().keyId();
    byte[] blob = sdk.encrypt(r -> r.keyId(keyId).plaintext(SdkBytes.fromUtf8String("secret"))).ciphertextBlob()
        .asByteArray();

    // Named as another key's in the request: AWS's IncorrectKeyException.
    IncorrectKeyException incorrect = catchThrowableOfType(IncorrectKeyException.class,
        () -> sdk.decrypt(r -> r.ciphertextBlob(SdkBytes.fromByteArray(blob)).keyId(otherKeyId)));
    assertThat(incorrect.awsErrorDetails().errorMessage())
        .isEqualTo("The key ID in the request does not identify a CMK that can perform this operation.");
    // Its header rewritten to name the other key: the tag no longer matches.
    byte[] moved = blob.clone();
    UUID other = UUID.fromString(otherKeyId);
    ByteBuffer.wrap(moved, 1, 16).putLong(other.getMostSignificantBits()).putLong(other.getLeastSignificantBits());
    InvalidCiphertextException invalid = catchThrowableOfType(InvalidCiphertextException.class,
        () -> sdk.decrypt(r -> r.ciphertextBlob(SdkBytes.fromByteArray(moved))));
    assertThat(invalid.statusCode()).isEqualTo(400);
  }

  @Test
  void noErrorBodySaysMoreThanTypeAndMessage() throws IOException {
    RawRequests.Response response = connection.call("TrentService.Decrypt", "{\"CiphertextBlob\": \"AAAA\"}");

    assertError(response, 400, "InvalidCiphertextException: ");
    assertThat(response.json().fieldNames()).toIterable().containsExactly("__type", "message");
  }

  private static void assertError(RawRequests.Response response, int status, String error) throws IOException {
    assertThat(response.status()).isEqualTo(status);
    assertThat(response.headers()).containsEntry("content-type", "application/x-amz-json-1.1");
    assertThat(UUID.fromString(response.headers().get("x-amzn-requestid"))).isNotNull();
    assertThat(response.error()).isEqualTo(error);
  }
}
