package dev.keyhold.kms.error;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ValidationTest {
  @Test
  void messagesAreAwsShaped() {
    assertThat(catchThrowableOfType(KmsException.class, () -> Validation.range(1025, "numberOfBytes", 1, 1024)))
        .hasMessage("1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
            + "Member must have value less than or equal to 1024");
    assertThat(catchThrowableOfType(KmsException.class, () -> Validation.range(0, "numberOfBytes", 1, 1024)))
        .hasMessage("1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: "
            + "Member must have value greater than or equal to 1");
    assertThat(catchThrowableOfType(KmsException.class,
        () -> Validation.sensitiveLength("x".repeat(4097), "plaintext", 1, 4096)))
        .hasMessage("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
            + "Member must have length less than or equal to 4096");
    KmsException pattern = catchThrowableOfType(KmsException.class,
        () -> Validation.pattern("bad id", "cloudHsmClusterId", Pattern.compile("cluster-[a-z]+")));
    assertThat(pattern.type()).isEqualTo(KmsErrorType.ValidationException);
  }

  @Test
  void absentOptionalMembersPass() {
    assertThat(Validation.length(null, "description", 0, 8192)).isNull();
    assertThat(Validation.range(null, "limit", 1, 1000)).isNull();
  }
}
