package dev.keyhold.server.wire;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.key.CreateKeyRequest;
import dev.keyhold.kms.key.EncryptRequest;
import dev.keyhold.kms.key.KeyMetadata;
import dev.keyhold.kms.key.KeySpec;
import dev.keyhold.kms.key.KeyState;
import dev.keyhold.kms.key.KeyUsage;
import dev.keyhold.kms.key.Origin;
import dev.keyhold.kms.keystore.CreateCustomKeyStoreRequest;
import dev.keyhold.server.WireException;
import dev.keyhold.server.wire.Requests.GenerateRandomRequest;
import dev.keyhold.server.wire.Requests.UntagResourceRequest;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class WireJsonTest {
  private final WireJson json = new WireJson(tokens -> {
    if (tokens.contains("forged")) {
      throw new KmsException(KmsErrorType.InvalidGrantTokenException, "The grant token is not valid.");
    }
  });

  @Test
  void readsAwsMembersIntoKmsCoreRecords() {
    EncryptRequest request = read("{'KeyId': 'alias/a', 'Plaintext': 'AQID', 'EncryptionContext': {'k': 'v'}, "
        + "'EncryptionAlgorithm': 'SYMMETRIC_DEFAULT', 'GrantTokens': ['skipped']}", EncryptRequest.class);

    assertThat(request.keyId()).isEqualTo("alias/a");
    assertThat(request.plaintext()).containsExactly(1, 2, 3);
    assertThat(request.encryptionContext()).isEqualTo(Map.of("k", "v"));
    assertThat(request.encryptionAlgorithm()).isEqualTo("SYMMETRIC_DEFAULT");
  }

  @Test
  void readsTheDeprecatedNameOfKeySpec() {
    assertThat(read("{'CustomerMasterKeySpec': 'RSA_2048'}", CreateKeyRequest.class).keySpec()).isEqualTo("RSA_2048");
    assertThat(read("{'KeySpec': 'HMAC_256', 'Tags': [{'TagKey': 'a', 'TagValue': ''}]}", CreateKeyRequest.class))
        .satisfies(request -> {
          assertThat(request.keySpec()).isEqualTo("HMAC_256");
          assertThat(request.tags()).singleElement().satisfies(tag -> assertThat(tag.tagValue()).isEmpty());
        });
  }

  @Test
  void writesMembersAsAwsDoes() {
    KeyMetadata metadata = new KeyMetadata("111122223333", "k", "arn", Instant.ofEpochMilli(1499288695918L), true, "",
        KeyUsage.ENCRYPT_DECRYPT, KeyState.Enabled, Optional.empty(), Origin.AWS_KMS, Optional.empty(),
        Optional.of("cluster-x"), "CUSTOMER", KeySpec.SYMMETRIC_DEFAULT, KeySpec.SYMMETRIC_DEFAULT,
        List.of("SYMMETRIC_DEFAULT"), false);

    assertThat(new String(json.write(metadata), UTF_8)).isEqualTo(("{'AWSAccountId':'111122223333','KeyId':'k',"
        + "'Arn':'arn','CreationDate':1499288695.918,'Enabled':true,'Description':'','KeyUsage':'ENCRYPT_DECRYPT',"
        + "'KeyState':'Enabled','Origin':'AWS_KMS','CloudHsmClusterId':'cluster-x','KeyManager':'CUSTOMER',"
        + "'CustomerMasterKeySpec':'SYMMETRIC_DEFAULT','KeySpec':'SYMMETRIC_DEFAULT',"
        + "'EncryptionAlgorithms':['SYMMETRIC_DEFAULT'],'MultiRegion':false}").replace('\'', '"'));
    assertThat(new String(json.write(Map.of("Plaintext", new byte[] {1, 2, 3})), UTF_8))
        .isEqualTo("{\"Plaintext\":\"AQID\"}");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{'KeyId': 5}                        | The value of KeyId has the wrong type.",
      "{'KeyId': true}                     | The value of KeyId has the wrong type.",
      "{'KeyId': {}}                       | The value of KeyId has the wrong type.",
      "{'KeyId': ['a']}                    | The value of KeyId has the wrong type.",
      "{'Plaintext': [1, 2]}               | The value of Plaintext has the wrong type.",
      "{'Plaintext': 'a*b'}                | The value of Plaintext is not valid base64.",
      "{'EncryptionContext': {'a': 1}}     | The value of EncryptionContext.a has the wrong type.",
      "{'EncryptionContext': {'a': null}}  | The value of EncryptionContext.a has the wrong type.",
      "{'EncryptionContext': 'a=b'}        | The value of EncryptionContext has the wrong type.",
      "{'KeyId': 'a', 'KeyId': 'b'}        | The request body is not a valid JSON object (line 1, column 23).",
      "{'KeyId': 'a'} {}                   | The request body is not a valid JSON object (line 1, column 16).",
      "{'KeyId': 'a'                       | The request body is not a valid JSON object (line 1, column 14).",
      "'a string'                          | The request body is not a valid JSON object (line 1, column 1).",
  })
  void refusesWhatIsNotAnEncryptRequest(String body, String message) {
    assertThat(error(body, EncryptRequest.class)).isEqualTo("SerializationException: " + message);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{'NumberOfBytes': '32'}             | The value of NumberOfBytes has the wrong type.",
      "{'NumberOfBytes': 32.0}             | The value of NumberOfBytes has the wrong type.",
      "{'NumberOfBytes': 99999999999}      | The value of NumberOfBytes has the wrong type.",
      "{'NumberOfBytes': true}             | The value of NumberOfBytes has the wrong type.",
  })
  void refusesWhatIsNotANumber(String body, String message) {
    assertThat(error(body, GenerateRandomRequest.class)).isEqualTo("SerializationException: " + message);
  }

  @Test
  void refusesAnEmptyBody() {
    assertThat(error("", EncryptRequest.class))
        .isEqualTo("SerializationException: The request body is empty: an operation without input takes {}.");
  }

  @Test
  void refusesNullsInLists() {
    assertThat(error("{'KeyId': 'k', 'TagKeys': ['a', null]}", UntagResourceRequest.class))
        .isEqualTo("SerializationException: The value of TagKeys[1] has the wrong type.");
  }

  @Test
  void checksAPasswordWithoutShowingIt() {
    assertThat(error("{'KeyStorePassword': 'secret'}", CreateCustomKeyStoreRequest.class))
        .isEqualTo("ValidationException: 1 validation error detected: Value at 'keyStorePassword' failed to satisfy "
            + "constraint: Member must have length greater than or equal to 7");
    assertThat(error("{'KeyStorePassword': 12345678}", CreateCustomKeyStoreRequest.class))
        .isEqualTo("SerializationException: The value of KeyStorePassword has the wrong type.");
    String password = read("{'KeyStorePassword': 'long enough'}", CreateCustomKeyStoreRequest.class).keyStorePassword()
        .withChars(String::new);
    assertThat(password).isEqualTo("long enough");
  }

  @Test
  void refusesMembersWhoseOmissionWouldChangeTheRequest() {
    assertThat(error("{'KeyId': 'k', 'DryRun': true}", Requests.KeyIdRequest.class))
        .as("an operation without DryRun in AWS's model").isEqualTo("UnsupportedOperationException: Keyhold does not "
            + "support DryRun.");
    assertThat(read("{'KeyId': 'k', 'DryRun': true}", EncryptRequest.class).dryRun()).isTrue();
    assertThat(error("{'KeyId': 'k', 'Recipient': {'AttestationDocument': 'AA=='}}", EncryptRequest.class))
        .isEqualTo("UnsupportedOperationException: Keyhold does not support Recipient.");
    assertThat(read("{'KeyId': 'k', 'DryRun': false, 'Recipient': null}", EncryptRequest.class).keyId()).isEqualTo("k");
  }

  @Test
  void checksGrantTokensWithoutKeepingThem() {
    assertThat(read("{'KeyId': 'k', 'GrantTokens': ['fine']}", EncryptRequest.class).keyId()).isEqualTo("k");
    assertThat(read("{'KeyId': 'k', 'GrantTokens': null}", EncryptRequest.class).keyId()).isEqualTo("k");
    assertThat(error("{'KeyId': 'k', 'GrantTokens': ['fine', 'forged']}", EncryptRequest.class))
        .isEqualTo("InvalidGrantTokenException: The grant token is not valid.");
    assertThat(error("{'KeyId': 'k', 'GrantTokens': 'fine'}", EncryptRequest.class)).startsWith("SerializationException");
  }

  private <R> R read(String body, Class<R> type) {
    return json.read(body.replace('\'', '"').getBytes(UTF_8), type);
  }

  private String error(String body, Class<?> type) {
    RuntimeException e = catchThrowableOfType(RuntimeException.class, () -> read(body, type));
    assertThat(e).as(body).isNotNull();
    String errorType = e instanceof WireException wire ? wire.type().name() : ((KmsException) e).type().name();
    assertThat(errorType).isIn("SerializationException", "ValidationException", "UnsupportedOperationException",
        "InvalidGrantTokenException");
    return errorType + ": " + e.getMessage();
  }
}
