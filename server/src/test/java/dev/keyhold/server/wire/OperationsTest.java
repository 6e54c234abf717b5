package dev.keyhold.server.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import dev.keyhold.kms.key.DecryptResponse;
import dev.keyhold.kms.key.EncryptResponse;
import dev.keyhold.kms.key.GenerateDataKeyResponse;
import dev.keyhold.kms.key.ReEncryptResponse;
import dev.keyhold.server.authz.KmsOperation;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.SdkField;
import software.amazon.awssdk.core.SdkPojo;

class OperationsTest {
  @Test
  void servesEveryOperation() {
    assertThat(Operations.all().keySet()).isEqualTo(EnumSet.allOf(KmsOperation.class));
  }

  /**
   * Jackson skips a member it does not know; so a misspelt one would be skipped without a word. Every
   * member a request record reads must be one the AWS SDK's model of that operation sends.
   */
  @Test
  void readsOnlyMembersTheAwsSdkSends() throws ReflectiveOperationException {
    ObjectMapper mapper = WireJson.mapper();
    for (WireOperation<?> operation : Operations.all().values()) {
      Set<String> ours = mapper.getDeserializationConfig()
          .introspect(mapper.constructType(operation.requestType())).findProperties().stream()
          .map(BeanPropertyDefinition::getName).collect(Collectors.toSet());

      assertThat(sdkMembers(operation.operation() + "Request")).as("%s", operation.operation()).containsAll(ours);
    }
  }

  /**
   * The responses kms-core writes as records: each member one the SDK reads, and every member of the
   * SDK's model there, but for the key material ids of rotated keys, which Keyhold's keys are not.
   */
  @Test
  void writesTheMembersTheAwsSdkReads() throws ReflectiveOperationException {
    ObjectMapper mapper = WireJson.mapper();
    Map<Class<?>, String> shapes = Map.of(
        EncryptResponse.class, "EncryptResponse",
        DecryptResponse.class, "DecryptResponse",
        ReEncryptResponse.class, "ReEncryptResponse",
        GenerateDataKeyResponse.class, "GenerateDataKeyResponse");
    Set<String> notServed = Set.of("KeyMaterialId", "SourceKeyMaterialId", "DestinationKeyMaterialId",
        "CiphertextForRecipient");
    for (Map.Entry<Class<?>, String> shape : shapes.entrySet()) {
      Set<String> ours = mapper.getSerializationConfig()
          .introspect(mapper.constructType(shape.getKey())).findProperties().stream()
          .map(BeanPropertyDefinition::getName).collect(Collectors.toSet());
      Set<String> sdk = new HashSet<>(sdkMembers(shape.getValue()));
      sdk.removeAll(notServed);

      assertThat(ours).as("%s", shape.getValue()).isEqualTo(sdk);
    }
  }

  private static Set<String> sdkMembers(String shape) throws ReflectiveOperationException {
    Object builder =
        Class.forName("software.amazon.awssdk.services.kms.model." + shape).getMethod("builder").invoke(null);
    return ((SdkPojo) builder).sdkFields().stream().map(SdkField::locationName).collect(Collectors.toSet());
  }
}
