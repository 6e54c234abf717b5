package dev.keyhold.shims;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the adapter never calls, at the PKCS#11 level: {@code standin-probe.c} (compiled here) calls
 * every function CloudHSM lacks, opens a read-only session, logs in as an officer, and drives both GCM
 * mechanisms with and without a caller's IV, and counts the backing tokens that hold a session key and
 * a token key made through it, in a process of its own; each variant of the stand-in's settings gets a
 * run. The adapter-level behaviour is {@link CloudHsmStandInTest}'s.
 */
class CloudHsmStandInProbeTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  private static final String USER = "kmsuser";
  private static final char[] PASSWORD = "Probe-Password-1".toCharArray();
  private static final List<String> MISSING = List.of(
      "C_InitToken", "C_InitPIN", "C_SetPIN", "C_GetOperationState", "C_SetOperationState", "C_CopyObject",
      "C_GetObjectSize", "C_SetAttributeValue", "C_DigestKey", "C_SignRecoverInit", "C_SignRecover",
      "C_VerifyRecoverInit", "C_VerifyRecover", "C_DigestEncryptUpdate", "C_DecryptDigestUpdate",
      "C_SignEncryptUpdate", "C_DecryptVerifyUpdate", "C_SeedRandom", "C_GetFunctionStatus",
      "C_CancelFunction", "C_WaitForSlotEvent");
  private static final String OK = "0x0";
  private static final String FUNCTION_FAILED = "0x6";
  private static final String GENERAL_ERROR = "0x5";
  private static final String FUNCTION_NOT_SUPPORTED = "0x54";
  private static final String MECHANISM_INVALID = "0x70";
  private static final String MECHANISM_PARAM_INVALID = "0x71";
  private static final String USER_TYPE_INVALID = "0x103";
  private static final String PIN_LOCKED = "0xa4";
  private static final String CALLERS_IV = "aa".repeat(12);

  @TempDir static Path programs;
  private static Path probe;

  @TempDir Path work;

  @BeforeAll
  static void compileProbe() {
    probe = ShimCompiler.compileProgram(CloudHsmStandInProbeTest.class, "standin-probe.c", programs);
  }

  @Test
  void byDefaultCloudHsmsQuirksHoldAtThePkcs11Level() throws Exception {
    Map<String, String> out = run(standIn().build());

    assertThat(out).containsEntry("C_Initialize", OK).containsEntry("C_GetSlotList", OK);
    assertThat(out.get("label")).startsWith("standin-probe ");
    assertThat(out).containsEntry("lists_CKM_CLOUDHSM_AES_GCM", "1");
    assertThat(out).as("SDK 5 has no read-only sessions").containsEntry("C_OpenSession_read_only", FUNCTION_FAILED);
    assertThat(out).containsEntry("C_OpenSession_read_write", OK);
    assertThat(out).as("only crypto users log in").containsEntry("C_Login_SO", USER_TYPE_INVALID);
    assertThat(out).containsEntry("C_Login_USER", OK);
    for (String function : MISSING) {
      assertThat(out).as(function).containsEntry(function, FUNCTION_NOT_SUPPORTED);
    }
    assertThat(out).containsEntry("C_GenerateKey_session", OK);
    assertThat(out).as("a session key lives on one HSM").containsEntry("session_key_on_hsms", "1");
    assertThat(out).containsEntry("C_GenerateKey_token", OK);
    assertThat(out).as("a token key on every HSM").containsEntry("token_key_on_hsms", "2");
    assertThat(out).containsEntry("C_DestroyObject_token", OK).containsEntry("token_key_on_hsms_after_destroy", "0");
    assertThat(out).as("pIv must be NULL").containsEntry("vendor_gcm_init_with_iv", MECHANISM_PARAM_INVALID);
    assertThat(out).containsEntry("vendor_gcm_init", OK);
    assertThat(out).as("single-part only").containsEntry("vendor_gcm_update", MECHANISM_INVALID);
    // CKM_AES_GCM: a caller's IV is overwritten with the module's, a zero buffer filled.
    assertThat(out).containsEntry("plain_gcm_init_caller_iv", OK).containsEntry("plain_gcm_encrypt_caller_iv", OK);
    assertThat(out.get("plain_gcm_iv_after_init_caller_iv")).hasSize(24).isNotEqualTo(CALLERS_IV);
    assertThat(out).containsEntry("plain_gcm_init_zero_iv", OK).containsEntry("plain_gcm_encrypt_zero_iv", OK);
    assertThat(out.get("plain_gcm_iv_after_init_zero_iv")).hasSize(24).isNotEqualTo("00".repeat(12));
    assertThat(out).as("ciphertext || tag, no IV").containsEntry("plain_gcm_ciphertext_length", "32");
    assertThat(out).containsEntry("plain_gcm_decrypt", OK).containsEntry("plain_gcm_round_trip", "1");
    assertThat(out).containsEntry("C_Finalize", OK);
  }

  @Test
  void aCallersIvCanBeRefusedInstead() throws Exception {
    Map<String, String> out = run(standIn().callerIv(CloudHsmStandIn.CallerIv.REFUSE).build());

    assertThat(out).containsEntry("plain_gcm_init_caller_iv", MECHANISM_PARAM_INVALID);
    assertThat(out).as("left as it was").containsEntry("plain_gcm_iv_after_init_caller_iv", CALLERS_IV);
    assertThat(out).containsEntry("plain_gcm_init_zero_iv", OK).containsEntry("plain_gcm_round_trip", "1");
    assertThat(out.get("plain_gcm_iv_after_init_zero_iv")).isNotEqualTo("00".repeat(12));
  }

  @Test
  void missingFunctionsCanAnswerGeneralErrorInstead() throws Exception {
    Map<String, String> out =
        run(standIn().missingFunction(CloudHsmStandIn.MissingFunction.CKR_GENERAL_ERROR).build());

    for (String function : MISSING) {
      assertThat(out).as(function).containsEntry(function, GENERAL_ERROR);
    }
    assertThat(out).containsEntry("C_Login_USER", OK);
  }

  @Test
  void aUserLockedOutInThisProcessIsLockedOutInAnother() throws Exception {
    CloudHsmStandIn standIn = standIn().build();
    char[] wrong = "wrong".toCharArray();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module())) {
      for (int attempt = 1; attempt <= 5; attempt++) {
        assertThatThrownBy(() -> Token.login(module, "standin-probe", TokenProfile.AWS_CLOUDHSM,
            TokenProfile.AWS_CLOUDHSM.loginPin(USER, Pin.of(wrong)), SessionPoolConfig.defaults()))
            .isInstanceOf(BadCredentialsException.class);
      }
    }

    Map<String, String> out = run(standIn);

    assertThat(out).as("the right password, in a new process").containsEntry("C_Login_USER", PIN_LOCKED);
  }

  private CloudHsmStandIn.Builder standIn() {
    CloudHsmStandIn.Builder builder = CloudHsmStandIn.builder(work, SoftHsmClusterExtension.modulePath())
        .slotLabel("standin-probe")
        .hsms(cluster.tokenLabels())
        .user(USER, PASSWORD);
    cluster.kmsuserPin().withChars(chars -> builder.hsmPin(chars));
    return builder;
  }

  /** Runs the probe on the stand-in (SoftHSM2 finds its tokens through the inherited SOFTHSM2_CONF). */
  private static Map<String, String> run(CloudHsmStandIn standIn) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(probe.toString(), standIn.module().toString(), "standin-probe",
        SoftHsmClusterExtension.modulePath().toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start();
    try (OutputStream stdin = process.getOutputStream()) {
      stdin.write((USER + ":" + new String(PASSWORD) + "\n").getBytes(UTF_8));
    }
    String output = new String(process.getInputStream().readAllBytes(), UTF_8);
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(process.exitValue()).as(output).isZero();
    Map<String, String> values = new LinkedHashMap<>();
    output.lines().forEach(line -> values.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1)));
    return values;
  }
}
