package dev.keyhold.shims;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.DeviceLostException;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenFailureException;
import dev.keyhold.pkcs11.TokenProfile;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shims compile, the outage markers are the files {@code outage-shim.c} looks for, and a hanging
 * token blocks its calls, and only its, against real SoftHSM2 tokens. What a down token does to calls
 * is shown against real tokens in pkcs11-adapter-tests' {@code OutageShimTest}.
 *
 * <p>"Has not returned" means: not within {@link #BLOCKED}. The waits for what must return are only
 * there so that a broken shim fails the test instead of hanging it; they set no speed.
 */
class HsmOutagesTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  /** How long a call must stay blocked to count as hanging: fifteen polls of the shim. */
  private static final long BLOCKED = 300;
  /** How long a call that should return may take before the test gives up on it. */
  private static final long RETURNS = 30;
  private static final byte[] PLAINTEXT = "through the hang".getBytes(StandardCharsets.UTF_8);

  @TempDir Path work;
  private ExecutorService threads;

  @BeforeEach
  void startThreads() {
    threads = Executors.newCachedThreadPool();
  }

  @AfterEach
  void stopThreads() {
    threads.shutdownNow();
  }

  @Test
  void compilesTheShimNextToItsMarkerDirectory() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());

    assertThat(outages.module()).isEqualTo(work.resolve("outage-shim.so").toAbsolutePath());
    assertThat(Files.readAllBytes(outages.module())).startsWith(0x7f, 'E', 'L', 'F');
    assertThat(outages.markerDirectory()).isEqualTo(work.resolve("down").toAbsolutePath()).isEmptyDirectory();
    assertThat(work).isDirectoryNotContaining(path -> path.getFileName().toString().endsWith(".tmp"));
  }

  @Test
  void takeDownAndBringBackCreateAndRemoveTheMarkerNamedAfterTheLabel() {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    Path marker = outages.markerDirectory().resolve("cluster-abcdefghijk_hsm2");

    outages.takeDown("cluster-abcdefghijk/hsm2");
    outages.takeDown("cluster-abcdefghijk/hsm2");
    assertThat(marker).isEmptyFile();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2")).isTrue();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2   ")).as("CK_TOKEN_INFO's blank padding").isTrue();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm1")).isFalse();

    outages.bringBack("cluster-abcdefghijk/hsm2");
    outages.bringBack("cluster-abcdefghijk/hsm2");
    assertThat(marker).doesNotExist();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2")).isFalse();
  }

  @Test
  void hangAndReleaseCreateAndRemoveTheHangMarkerBesideTheDownOne() {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    Path marker = outages.markerDirectory().resolve("cluster-abcdefghijk_hsm2.hang");

    outages.hang("cluster-abcdefghijk/hsm2");
    outages.hang("cluster-abcdefghijk/hsm2");
    assertThat(marker).isEmptyFile();
    assertThat(outages.isHanging("cluster-abcdefghijk/hsm2")).isTrue();
    assertThat(outages.isHanging("cluster-abcdefghijk/hsm2   ")).as("CK_TOKEN_INFO's blank padding").isTrue();
    assertThat(outages.isHanging("cluster-abcdefghijk/hsm1")).isFalse();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2")).as("hanging is not down").isFalse();

    outages.takeDown("cluster-abcdefghijk/hsm2");
    outages.release("cluster-abcdefghijk/hsm2");
    outages.release("cluster-abcdefghijk/hsm2");
    assertThat(marker).doesNotExist();
    assertThat(outages.isHanging("cluster-abcdefghijk/hsm2")).isFalse();
    assertThat(outages.isDown("cluster-abcdefghijk/hsm2")).as("released is not brought back").isTrue();
  }

  @Test
  void refusesLabelsThatNameNoFile() {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    for (String label : new String[] {"", "   ", ".", ".."}) {
      assertThatThrownBy(() -> outages.takeDown(label)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> outages.hang(label)).isInstanceOf(IllegalArgumentException.class);
    }
    // Its down marker would be the hang marker of "cluster-abc/hsm2".
    assertThatThrownBy(() -> outages.takeDown("cluster-abc/hsm2.hang"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("would be another token's");
    assertThatThrownBy(() -> outages.refuseKeyGeneration("cluster-abc/hsm2.refuse-keygen"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aTokenThatRefusesKeyGenerationMakesNothingAndAnswersEverythingElse() {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    String refusingLabel = firstInSlotOrder();
    try (Pkcs11Module shim = Pkcs11Module.load(outages.module());
        Token refusing = login(shim, refusingLabel);
        Token other = login(shim, other(refusingLabel))) {
      AesKeyTemplate template = AesKeyTemplate.builder(AesKey.of("refused", new byte[] {7})).build();

      outages.refuseKeyGeneration(refusingLabel);
      outages.refuseKeyGeneration(refusingLabel);
      assertThat(outages.markerDirectory().resolve(refusingLabel.replace('/', '_') + ".refuse-keygen")).isEmptyFile();
      assertThatThrownBy(() -> refusing.generateAesKey(template))
          .isInstanceOf(TokenFailureException.class).hasMessageContaining("CKR_TEMPLATE_INCONSISTENT");
      assertThat(refusing.findAesKey("refused")).as("nothing was made").isEmpty();
      assertThat(refusing.generateRandom(16)).hasSize(16);
      assertThat(other.generateAesKey(template)).isNotNull();

      outages.allowKeyGeneration(refusingLabel);
      outages.allowKeyGeneration(refusingLabel);
      assertThat(refusing.generateAesKey(template)).isNotNull();
    }
  }

  @Test
  void theLockoutShimCompilesToo() {
    Path library = ShimCompiler.compile("lockout-shim.c", work,
        Map.of("REAL_MODULE", SoftHsmClusterExtension.modulePath().toString()));

    assertThat(library).isEqualTo(work.resolve("lockout-shim.so").toAbsolutePath()).isNotEmptyFile();
    assertThat(work.resolve("lockout-shim.c")).isNotEmptyFile();
  }

  @Test
  void aMissingSourceOrRealModuleIsAClearFailure() {
    assertThatThrownBy(() -> ShimCompiler.compile("no-such-shim.c", work, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no-such-shim.c");
    assertThatThrownBy(() -> HsmOutages.create(work, Path.of("/nonexistent/libpkcs11.so")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("/nonexistent/libpkcs11.so");
  }

  // Each test releases its token in a finally inside the module's try: a call blocked in the shim holds
  // the adapter's call lock, so closing the module under it would wait for ever instead of failing.

  @Test
  void aHangingTokenBlocksItsCallsUntilReleasedWhileTheOtherTokenAndItsTokenInfoAnswer() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    String hangingLabel = firstInSlotOrder();
    String upLabel = other(hangingLabel);
    try (Pkcs11Module shim = Pkcs11Module.load(outages.module());
        Token up = login(shim, upLabel);
        Token hanging = login(shim, hangingLabel)) {
      Aead upAead = up.aesGcm(up.generateAesKey(AesKeyTemplate.builder(AesKey.of("hang-up", new byte[] {1})).build()));
      assertThat(hanging.generateRandom(16)).as("answers before").hasSize(16);
      Future<byte[]> blocked;
      Future<Token> opening;

      outages.hang(hangingLabel);
      try {
        blocked = threads.submit(() -> hanging.generateRandom(16));
        // A new login opens a session on the hanging token's slot: C_OpenSession blocks too.
        opening = threads.submit(() -> login(shim, hangingLabel));
        assertThatThrownBy(() -> blocked.get(BLOCKED, MILLISECONDS)).isInstanceOf(TimeoutException.class);
        assertThat(opening).isNotDone();

        // Run elsewhere, so that a shim blocking the wrong token fails here rather than hangs the test.
        assertThat(threads.submit(() -> upAead.decrypt(upAead.encrypt(PLAINTEXT, null), null)).get(RETURNS, SECONDS))
            .isEqualTo(PLAINTEXT);
        assertThat(threads.submit(() -> up.generateRandom(16)).get(RETURNS, SECONDS)).hasSize(16);
        // Every slot's C_GetTokenInfo, the hanging one's first: the slot order puts it there.
        assertThat(threads.submit(shim::tokenLabels).get(RETURNS, SECONDS))
            .as("C_GetTokenInfo of the hanging token answers")
            .contains(hangingLabel, upLabel);
        assertThat(threads.submit(() -> shim.describeToken(hangingLabel)).get(RETURNS, SECONDS)).contains("SoftHSM");
        assertThat(blocked).as("still blocked after the other token answered").isNotDone();
        assertThat(opening).isNotDone();
      } finally {
        outages.release(hangingLabel);
      }

      assertThat(blocked.get(RETURNS, SECONDS)).as("the blocked call went on").hasSize(16);
      try (Token opened = opening.get(RETURNS, SECONDS)) {
        assertThat(opened.generateRandom(16)).hasSize(16);
      }
      assertThat(hanging.generateRandom(16)).as("answers after, without a new login").hasSize(16);
      assertThat(up.generateRandom(16)).hasSize(16);
    }
  }

  @Test
  void closingTheSessionsOfAHangingTokenDoesNotWait() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    String label = firstInSlotOrder();
    try (Pkcs11Module shim = Pkcs11Module.load(outages.module())) {
      Token hanging = login(shim, label);
      Future<byte[]> blocked;

      outages.hang(label);
      try {
        blocked = threads.submit(() -> hanging.generateRandom(16));
        assertThatThrownBy(() -> blocked.get(BLOCKED, MILLISECONDS)).isInstanceOf(TimeoutException.class);

        // C_CloseSession of the login's own session, while another session of the token is blocked.
        threads.submit(hanging::close).get(RETURNS, SECONDS);
        assertThat(blocked).isNotDone();
      } finally {
        outages.release(label);
      }

      assertThat(blocked.get(RETURNS, SECONDS)).as("went on to the real token").hasSize(16);
    }
  }

  @Test
  void aTokenTakenDownWhileHangingFailsOnceReleasedAndAnswersOnceBroughtBack() throws Exception {
    HsmOutages outages = HsmOutages.create(work, SoftHsmClusterExtension.modulePath());
    String label = firstInSlotOrder();
    try (Pkcs11Module shim = Pkcs11Module.load(outages.module());
        Token token = login(shim, label)) {
      Future<byte[]> blocked;

      outages.hang(label);
      try {
        blocked = threads.submit(() -> token.generateRandom(16));
        assertThatThrownBy(() -> blocked.get(BLOCKED, MILLISECONDS)).isInstanceOf(TimeoutException.class);
        outages.takeDown(label);
        assertThatThrownBy(() -> blocked.get(BLOCKED, MILLISECONDS))
            .as("down does not end the hang")
            .isInstanceOf(TimeoutException.class);
      } finally {
        outages.release(label);
      }

      try {
        assertThatThrownBy(() -> blocked.get(RETURNS, SECONDS))
            .isInstanceOf(ExecutionException.class)
            .hasCauseInstanceOf(DeviceLostException.class)
            .hasMessageContaining("CKR_DEVICE_REMOVED");
      } finally {
        outages.bringBack(label);
      }

      assertThat(token.generateRandom(16)).as("reconnected by the adapter").hasSize(16);
    }
  }

  /**
   * The token the slot list shows first (SoftHSM2 orders slots by an id drawn from the serial), so that
   * finding the other one by label reads the hanging token's info on the way.
   */
  private static String firstInSlotOrder() {
    return cluster.module().tokenLabels().stream().filter(cluster.tokenLabels()::contains).findFirst().orElseThrow();
  }

  private static String other(String label) {
    return cluster.tokenLabels().stream().filter(candidate -> !candidate.equals(label)).findFirst().orElseThrow();
  }

  private static Token login(Pkcs11Module module, String label) {
    return Token.login(module, label, TokenProfile.SOFTHSM2, cluster.kmsuserPin(), SessionPoolConfig.defaults());
  }
}
