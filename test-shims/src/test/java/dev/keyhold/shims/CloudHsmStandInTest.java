package dev.keyhold.shims;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.InvalidCiphertextException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.PinLockedException;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenFailureException;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.pkcs11.UnsupportedByTokenException;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CloudHSM stand-in ({@code cloudhsm-standin.c}) against three real SoftHSM2 tokens, through the
 * adapter: what Keyhold's AWS_CLOUDHSM profile meets. Each test builds a stand-in of its own (a state
 * directory, a slot label) over the class's tokens, with the settings it shows. What the adapter cannot
 * call (every missing function, read-only sessions) is shown by {@code standin-probe.c} in
 * {@link CloudHsmStandInProbeTest}; the adapter's JNI path against the stand-in, by pkcs11-adapter-tests'
 * {@code CloudHsmStandInCallPathTest}.
 */
class CloudHsmStandInTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(3);

  private static final String USER = "kmsuser";
  private static final char[] PASSWORD = "Correct-Horse-1".toCharArray();
  private static final byte[] PLAINTEXT = "seventeen bytes!!".getBytes(UTF_8);
  private static final String QUORUM_LINE = "does not meet the availability requirements - The key must be "
      + "available on at least 2 HSMs before being used.";
  private static final AtomicInteger KEYS = new AtomicInteger();

  @TempDir Path work;

  @Test
  void showsOneSlotLabelledAsConfiguredAndAGeneratedTokenKeyHasOneValueOnEveryHsm() {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath()).build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      assertThat(module.tokenLabels()).containsExactly("standin-cluster");
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(newKey()).build());
      Aead aead = token.aesGcm(key);

      byte[] first = aead.encrypt(PLAINTEXT, null);
      byte[] second = aead.encrypt(PLAINTEXT, null);
      // CKM_CLOUDHSM_AES_GCM: IV (12) || ciphertext || tag (16), the IV drawn by the module each time.
      assertThat(first).hasSize(12 + PLAINTEXT.length + 16);
      assertThat(Arrays.copyOf(first, 12)).isNotEqualTo(Arrays.copyOf(second, 12));
      assertThat(aead.decrypt(first, null)).isEqualTo(PLAINTEXT);

      // Each backing token holds the key, with the same value: its own AES-GCM opens the ciphertext.
      for (int hsm = 1; hsm <= 3; hsm++) {
        try (Token backing = cluster.login(hsm)) {
          AesKey there = backing.findAesKey(key.label()).orElseThrow();
          assertThat(backing.aesGcm(there).decrypt(first, null)).as("HSM %s", hsm).isEqualTo(PLAINTEXT);
        }
      }
    }
  }

  @Test
  void aNewTokenKeyIsUnusableUntilOnTwoHsmsAndAReturningHsmGetsTheKeysItMissed() {
    HsmOutages outages = HsmOutages.create(work.resolve("outages"), SoftHsmClusterExtension.modulePath());
    CloudHsmStandIn standIn = standIn(work.resolve("standin"), outages.module()).build();
    String hsm2 = cluster.tokenLabels().get(1);
    String hsm3 = cluster.tokenLabels().get(2);
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      outages.takeDown(hsm2);
      outages.takeDown(hsm3);
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(newKey()).build());

      assertThatThrownBy(() -> token.aesGcm(key).encrypt(PLAINTEXT, null))
          .isInstanceOf(TokenFailureException.class)
          .hasMessageContaining("CKR_FUNCTION_FAILED");
      assertThat(standIn.log()).contains(QUORUM_LINE);
      assertThat(onBacking(2, key)).as("HSM 2 was down when the key was made").isFalse();

      outages.bringBack(hsm2);
      byte[] ciphertext = token.aesGcm(key).encrypt(PLAINTEXT, null);
      assertThat(onBacking(2, key)).as("synced on its return").isTrue();
      assertThat(onBacking(3, key)).as("still down").isFalse();

      outages.bringBack(hsm3);
      outages.takeDown(cluster.tokenLabels().get(0));
      assertThat(token.aesGcm(key).decrypt(ciphertext, null)).as("served by HSMs 2 and 3").isEqualTo(PLAINTEXT);
      assertThat(onBacking(3, key)).isTrue();
      outages.bringBack(cluster.tokenLabels().get(0));
    }
  }

  @Test
  void aKeyDestroyedWhileAnHsmIsDownLeavesItOnItsReturn() {
    HsmOutages outages = HsmOutages.create(work.resolve("outages"), SoftHsmClusterExtension.modulePath());
    CloudHsmStandIn standIn = standIn(work.resolve("standin"), outages.module()).build();
    String hsm3 = cluster.tokenLabels().get(2);
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(newKey()).build());
      assertThat(onBacking(3, key)).isTrue();

      outages.takeDown(hsm3);
      token.destroyKey(key);
      assertThat(onBacking(1, key)).isFalse();
      assertThat(onBacking(3, key)).as("down: it missed the destruction").isTrue();

      outages.bringBack(hsm3);
      token.generateRandom(8);  // any call: the stand-in looks at its HSMs first
      assertThat(token.findAesKey(key.label())).isEmpty();
      assertThat(onBacking(3, key)).as("synced on its return").isFalse();
    }
  }

  @Test
  void aTokenKeyUnwrappedThroughTheSlotIsOnEveryHsmAndAReturningHsmGetsItToo() {
    HsmOutages outages = HsmOutages.create(work.resolve("outages"), SoftHsmClusterExtension.modulePath());
    CloudHsmStandIn standIn = standIn(work.resolve("standin"), outages.module()).build();
    String hsm3 = cluster.tokenLabels().get(2);
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      // The provisioned trusted wrapping key is on every backing token already: the cluster's own.
      AesKey original = token.generateAesKey(AesKeyTemplate.builder(newKey()).replicable().build());
      byte[] wrapped = token.wrapKey(TrustedWrappingKey.NAME, original);

      outages.takeDown(hsm3);
      AesKey copy = token.unwrapAesKey(TrustedWrappingKey.NAME, wrapped,
          AesKeyTemplate.builder(newKey()).replicable().build());
      assertThat(onBacking(1, copy)).isTrue();
      assertThat(onBacking(2, copy)).isTrue();
      assertThat(onBacking(3, copy)).as("down when it was unwrapped").isFalse();

      outages.bringBack(hsm3);
      byte[] ciphertext = token.aesGcm(original).encrypt(PLAINTEXT, null);
      try (Token backing = cluster.login(3)) {
        AesKey there = backing.findAesKey(copy.label()).orElseThrow(() -> new AssertionError("not synced to HSM 3"));
        assertThat(backing.aesGcm(there).decrypt(ciphertext, null)).as("the original's value").isEqualTo(PLAINTEXT);
      }
    } finally {
      outages.bringBack(hsm3);
    }
  }

  @Test
  void aNewTokenKeyOnOneHsmIsUsableWhenTheQuorumCheckIsOff() {
    HsmOutages outages = HsmOutages.create(work.resolve("outages"), SoftHsmClusterExtension.modulePath());
    CloudHsmStandIn standIn =
        standIn(work.resolve("standin"), outages.module()).keyAvailabilityQuorum(1).build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      outages.takeDown(cluster.tokenLabels().get(1));
      outages.takeDown(cluster.tokenLabels().get(2));
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(newKey()).build());

      Aead aead = token.aesGcm(key);
      assertThat(aead.decrypt(aead.encrypt(PLAINTEXT, null), null)).isEqualTo(PLAINTEXT);
      assertThat(standIn.log()).doesNotContain(QUORUM_LINE);
    } finally {
      outages.bringBack(cluster.tokenLabels().get(1));
      outages.bringBack(cluster.tokenLabels().get(2));
    }
  }

  @Test
  void tokenKeysOutliveFinalizeAndAreFoundAgainByLabel() throws Exception {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath()).build();
    AesKey key = newKey();
    byte[] ciphertext;
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      ciphertext = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(key).build())).encrypt(PLAINTEXT, null);
    }
    // The journal holds key values, the users file password hashes: the owner's alone.
    for (String file : new String[] {"keys", "users", "standin.conf"}) {
      assertThat(Files.getPosixFilePermissions(standIn.stateDirectory().resolve(file)))
          .as(file).isEqualTo(PosixFilePermissions.fromString("rw-------"));
    }
    // C_Finalize dropped every handle; the stand-in matches the HSMs' objects to its journal again.
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      AesKey found = token.findAesKey(key.label()).orElseThrow();
      assertThat(token.aesGcm(found).decrypt(ciphertext, null)).isEqualTo(PLAINTEXT);
      assertThat(token.listAesKeys()).as("one cluster key, not one per HSM").containsOnlyOnce(found);
    }
  }

  @Test
  void aHangingHsmBlocksTokenKeyCreationUntilReleasedWhileKeysServeFromTheOthers() throws Exception {
    HsmOutages outages = HsmOutages.create(work.resolve("outages"), SoftHsmClusterExtension.modulePath());
    CloudHsmStandIn standIn = standIn(work.resolve("standin"), outages.module()).build();
    String hsm3 = cluster.tokenLabels().get(2);
    ExecutorService threads = Executors.newCachedThreadPool();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(newKey()).build()));
      Future<AesKey> creating;
      outages.hang(hsm3);
      try {
        creating = threads.submit(() -> token.generateAesKey(AesKeyTemplate.builder(newKey()).build()));
        assertThatThrownBy(() -> creating.get(300, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
        // Routed to HSM 1: the hang of HSM 3 does not reach it.
        assertThat(threads.submit(() -> aead.decrypt(aead.encrypt(PLAINTEXT, null), null)).get(30, TimeUnit.SECONDS))
            .isEqualTo(PLAINTEXT);
        assertThat(creating).isNotDone();
      } finally {
        outages.release(hsm3);
      }
      AesKey created = creating.get(30, TimeUnit.SECONDS);
      assertThat(onBacking(3, created)).isTrue();
    } finally {
      threads.shutdownNow();
    }
  }

  @Test
  void fiveFailedLoginsLockTheUserAcrossFinalizeUntilThePasswordIsSet() {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath()).build();
    char[] wrong = "wrong-password".toCharArray();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module())) {
      for (int attempt = 1; attempt <= 5; attempt++) {
        assertThatThrownBy(() -> cloudHsmLogin(module, wrong)).isInstanceOf(BadCredentialsException.class);
      }
      assertThat(standIn.failedLogins(USER)).isEqualTo(5);
      assertThatThrownBy(() -> cloudHsmLogin(module, PASSWORD))
          .as("locked: the right password no longer helps")
          .isInstanceOf(PinLockedException.class)
          .hasMessageContaining("CKR_PIN_LOCKED");
    }
    // C_Finalize and C_Initialize: the count is in the state directory, as it is in the cluster.
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module())) {
      assertThatThrownBy(() -> cloudHsmLogin(module, PASSWORD)).isInstanceOf(PinLockedException.class);

      char[] changed = "Rotated-Password-2".toCharArray();
      standIn.setPassword(USER, changed);
      assertThat(standIn.failedLogins(USER)).isZero();
      assertThatThrownBy(() -> cloudHsmLogin(module, PASSWORD)).isInstanceOf(BadCredentialsException.class);
      try (Token token = cloudHsmLogin(module, changed)) {
        assertThat(token.generateRandom(8)).hasSize(8);
      }
      assertThat(standIn.failedLogins(USER)).as("a good login clears the count").isZero();
    }
    assertThat(standIn.log()).doesNotContain(new String(PASSWORD)).doesNotContain("wrong-password");
  }

  @Test
  void aPasswordSetWhileAnHsmIsDownHoldsOnThatHsmWhenItServesAlone() {
    HsmOutages outages = HsmOutages.create(work.resolve("outages"), SoftHsmClusterExtension.modulePath());
    CloudHsmStandIn standIn = standIn(work.resolve("standin"), outages.module()).build();
    char[] changed = "Changed-While-Down".toCharArray();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module())) {
      outages.takeDown(cluster.tokenLabels().get(2));
      standIn.setPassword(USER, changed);
      outages.bringBack(cluster.tokenLabels().get(2));
      outages.takeDown(cluster.tokenLabels().get(0));
      outages.takeDown(cluster.tokenLabels().get(1));

      assertThatThrownBy(() -> cloudHsmLogin(module, PASSWORD)).isInstanceOf(BadCredentialsException.class);
      try (Token token = cloudHsmLogin(module, changed)) {
        assertThat(token.generateRandom(8)).hasSize(8);
      }
    } finally {
      outages.bringBack(cluster.tokenLabels().get(0));
      outages.bringBack(cluster.tokenLabels().get(1));
    }
  }

  @Test
  void plainAesGcmWritesTheModulesIvIntoTheCallersBuffer() {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath()).build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = plainGcmLogin(module)) {
      assertFastPath(module);
      AesKey key = token.generateAesKey(AesKeyTemplate.builder(newKey()).build());
      Aead aead = token.aesGcm(key);

      // The SOFTHSM2 profile passes an IV of its own in pIv and reports what pIv holds after the call:
      // the module's IV, or this would not decrypt, here or on a backing token.
      byte[] ciphertext = aead.encrypt(PLAINTEXT, "context".getBytes(UTF_8));
      assertThat(aead.decrypt(ciphertext, "context".getBytes(UTF_8))).isEqualTo(PLAINTEXT);
      try (Token backing = cluster.login(2)) {
        AesKey there = backing.findAesKey(key.label()).orElseThrow();
        assertThat(backing.aesGcm(there).decrypt(ciphertext, "context".getBytes(UTF_8))).isEqualTo(PLAINTEXT);
      }
      // A bad tag on CKM_AES_GCM too.
      assertThatThrownBy(() -> aead.decrypt(tampered(ciphertext), "context".getBytes(UTF_8)))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("CKR_ENCRYPTED_DATA_INVALID");
    }
  }

  @Test
  void plainAesGcmRefusesACallersIvWhenSetTo() {
    CloudHsmStandIn standIn =
        standIn(work, SoftHsmClusterExtension.modulePath()).callerIv(CloudHsmStandIn.CallerIv.REFUSE).build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module())) {
      AesKey key;
      try (Token token = plainGcmLogin(module)) {
        assertFastPath(module);
        key = token.generateAesKey(AesKeyTemplate.builder(newKey()).build());
        assertThatThrownBy(() -> token.aesGcm(key).encrypt(PLAINTEXT, null))
            .isInstanceOf(UnsupportedByTokenException.class)
            .hasMessageContaining("CKR_MECHANISM_PARAM_INVALID");
      }
      // The vendor mechanism takes no IV from the caller, so the setting does not touch it.
      try (Token token = cloudHsmLogin(module, PASSWORD)) {
        Aead aead = token.aesGcm(key);
        assertThat(aead.decrypt(aead.encrypt(PLAINTEXT, null), null)).isEqualTo(PLAINTEXT);
      }
    }
  }

  @Test
  void aBadTagIsEncryptedDataInvalidByDefault() {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath()).build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = cloudHsmLogin(module, PASSWORD)) {
      Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(newKey()).build()));
      byte[] ciphertext = aead.encrypt(PLAINTEXT, null);

      assertThatThrownBy(() -> aead.decrypt(tampered(ciphertext), null))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("CKR_ENCRYPTED_DATA_INVALID");
      assertThatThrownBy(() -> aead.decrypt(ciphertext, "other context".getBytes(UTF_8)))
          .isInstanceOf(InvalidCiphertextException.class);
      assertThat(aead.decrypt(ciphertext, null)).as("the session survived").isEqualTo(PLAINTEXT);
    }
  }

  /**
   * If CloudHSM turns out to report a bad tag as SoftHSM2 does, the AWS_CLOUDHSM profile as it stands
   * reports a {@link TokenFailureException}, not an {@link InvalidCiphertextException}: what the
   * profile's bad-tag assumption costs if it is wrong. The SOFTHSM2 profile's mapping would catch it.
   */
  @Test
  void aBadTagSetToGeneralErrorIsATokenFailureUnderTheCloudHsmProfile() {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath())
        .badTag(CloudHsmStandIn.BadTag.CKR_GENERAL_ERROR)
        .build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module())) {
      try (Token token = cloudHsmLogin(module, PASSWORD)) {
        Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(newKey()).build()));
        byte[] ciphertext = aead.encrypt(PLAINTEXT, null);
        assertThatThrownBy(() -> aead.decrypt(tampered(ciphertext), null))
            .isInstanceOf(TokenFailureException.class)
            .hasMessageContaining("CKR_GENERAL_ERROR");
      }
      try (Token token = plainGcmLogin(module)) {
        assertFastPath(module);
        Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(newKey()).build()));
        byte[] ciphertext = aead.encrypt(PLAINTEXT, null);
        assertThatThrownBy(() -> aead.decrypt(tampered(ciphertext), null))
            .isInstanceOf(InvalidCiphertextException.class)
            .hasMessageContaining("CKR_GENERAL_ERROR");
      }
    }
  }

  @Test
  void setPinIsNotSupported() {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath()).build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module())) {
      // The SOFTHSM2 profile calls C_SetPIN; the AWS_CLOUDHSM one refuses before the token.
      try (Token token = plainGcmLogin(module)) {
        assertThatThrownBy(() -> token.changePin(loginPin(PASSWORD), loginPin("New-1".toCharArray())))
            .isInstanceOf(UnsupportedByTokenException.class)
            .hasMessageContaining("C_SetPIN")
            .hasMessageContaining("CKR_FUNCTION_NOT_SUPPORTED");
      }
      try (Token token = cloudHsmLogin(module, PASSWORD)) {
        assertThatThrownBy(() -> token.changePin(Pin.of(PASSWORD), Pin.of("New-1".toCharArray())))
            .isInstanceOf(UnsupportedByTokenException.class);
      }
    }
  }

  @Test
  void aMissingFunctionSetToGeneralErrorIsATokenFailure() {
    CloudHsmStandIn standIn = standIn(work, SoftHsmClusterExtension.modulePath())
        .missingFunction(CloudHsmStandIn.MissingFunction.CKR_GENERAL_ERROR)
        .build();
    try (Pkcs11Module module = Pkcs11Module.load(standIn.module());
        Token token = plainGcmLogin(module)) {
      assertThatThrownBy(() -> token.changePin(loginPin(PASSWORD), loginPin("New-1".toCharArray())))
          .isInstanceOf(TokenFailureException.class)
          .hasMessageContaining("CKR_GENERAL_ERROR");
    }
  }

  // ---------- helpers ----------

  static CloudHsmStandIn.Builder standIn(Path stateDir, Path backingModule) {
    CloudHsmStandIn.Builder builder = CloudHsmStandIn.builder(stateDir, backingModule)
        .slotLabel("standin-cluster")
        .hsms(cluster.tokenLabels())
        .user(USER, PASSWORD);
    cluster.kmsuserPin().withChars(chars -> builder.hsmPin(chars));
    return builder;
  }

  /** A login as the AWS_CLOUDHSM profile makes it: {@code kmsuser:password}, CKM_CLOUDHSM_AES_GCM. */
  private static Token cloudHsmLogin(Pkcs11Module module, char[] password) {
    return Token.login(module, "standin-cluster", TokenProfile.AWS_CLOUDHSM,
        TokenProfile.AWS_CLOUDHSM.loginPin(USER, Pin.of(password)), SessionPoolConfig.defaults());
  }

  /**
   * A login under the SOFTHSM2 profile, with the CloudHSM PIN formed by hand: the adapter's way to
   * drive plain {@code CKM_AES_GCM} (adapter IV in {@code pIv}) and {@code C_SetPIN}.
   */
  private static Token plainGcmLogin(Pkcs11Module module) {
    return Token.login(module, "standin-cluster", TokenProfile.SOFTHSM2, loginPin(PASSWORD),
        SessionPoolConfig.defaults());
  }

  private static Pin loginPin(char[] password) {
    return TokenProfile.AWS_CLOUDHSM.loginPin(USER, Pin.of(password));
  }

  /** Only the FFM fast path reads pIv back after the call; the wrapper's JNI copy of it is lost. */
  private static void assertFastPath(Pkcs11Module module) {
    assertThat(module.callPath()).as("plain CKM_AES_GCM's written-back IV needs the fast path").contains("FFM");
  }

  private static boolean onBacking(int hsm, AesKey key) {
    try (Token backing = cluster.login(hsm)) {
      return backing.findAesKey(key.label()).isPresent();
    }
  }

  private static AesKey newKey() {
    int n = KEYS.incrementAndGet();
    return AesKey.of("standin-key-" + n + "-" + System.nanoTime(), new byte[] {(byte) n});
  }

  private static byte[] tampered(byte[] ciphertext) {
    byte[] copy = ciphertext.clone();
    copy[copy.length - 1] ^= 1;
    return copy;
  }
}
