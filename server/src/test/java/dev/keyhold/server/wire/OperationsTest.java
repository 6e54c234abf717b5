package dev.keyhold.server.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import dev.keyhold.server.authz.KmsOperation;
import java.util.EnumSet;
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

  private static Set<String> sdkMembers(String shape) throws ReflectiveOperationException {
    Object builder =
        Class.forName("software.amazon.awssdk.services.kms.model." + shape).getMethod("builder").invoke(null);
    return ((SdkPojo) builder).sdkFields().stream().map(SdkField::locationName).collect(Collectors.toSet());
  }
}
