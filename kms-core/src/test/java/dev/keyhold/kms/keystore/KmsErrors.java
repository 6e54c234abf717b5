package dev.keyhold.kms.keystore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keyhold.kms.error.KmsErrorType;
import dev.keyhold.kms.error.KmsException;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;

/** Assertions on the AWS error a kms-core call answers. */
public final class KmsErrors {
  private KmsErrors() {}

  /** Fails unless {@code call} throws a KmsException of {@code type}. */
  public static void assertError(ThrowingCallable call, KmsErrorType type) {
    assertThat(error(call).type()).isEqualTo(type);
  }

  /** The KmsException {@code call} throws; fails if it throws none. */
  public static KmsException error(ThrowingCallable call) {
    KmsException e = catchThrowableOfType(KmsException.class, call);
    assertThat(e).as("a KmsException").isNotNull();
    return e;
  }
}
