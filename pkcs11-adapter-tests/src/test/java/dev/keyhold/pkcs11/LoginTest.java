package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.security.SecureRandom;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

class LoginTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);

  private final ListAppender<ILoggingEvent> captured = new ListAppender<>();
  private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
  private final Logger wrapper = (Logger) LoggerFactory.getLogger("org.xipki.pkcs11.wrapper");

  @BeforeEach
  void captureEverything() {
    captured.start();
    root.addAppender(captured);
    root.setLevel(Level.TRACE);
    wrapper.setLevel(Level.TRACE);
  }

  @AfterEach
  void stopCapturing() {
    root.detachAppender(captured);
    root.setLevel(Level.INFO);
    wrapper.setLevel(Level.WARN);
  }

  @Test
  void aWrongPinIsBadCredentialsAndNeverShows() {
    Pin wrong = Pin.random(new SecureRandom(), 14);
    String label = cluster.tokenLabels().get(0);

    Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() ->
        Token.login(cluster.module(), label, TokenProfile.SOFTHSM2, wrong, SessionPoolConfig.defaults()));

    assertThat(thrown).isInstanceOf(BadCredentialsException.class).hasMessageContaining("CKR_PIN_INCORRECT");
    assertThat(((Pkcs11Exception) thrown).returnValue()).contains("CKR_PIN_INCORRECT");
    assertNoLeak(wrong, thrown.toString());
    assertNoLeak(cluster.kmsuserPin(), thrown.toString());
  }

  @Test
  void aRightPinNeverShowsInTraceLogsOfAFullSession() {
    try (Token token = cluster.login(1)) {
      Aead aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(AesKey.of("k", new byte[] {1})).build()));
      aead.decrypt(aead.encrypt(new byte[] {1, 2, 3}, null), null);
      Pin next = Pin.random(new SecureRandom(), 14);
      token.changePin(cluster.kmsuserPin(), next);
      token.changePin(next, cluster.kmsuserPin());
      assertNoLeak(next, token.toString());
    }
    assertThat(captured.list).as("trace logging was on").isNotEmpty();
    assertNoLeak(cluster.kmsuserPin(), "");
    assertNoLeak(cluster.soPin(), "");
  }

  @Test
  void aTokenAwaitingLoginReachesNothingUntilItsCallerLogsIn() {
    String label = cluster.tokenLabels().get(0);
    try (Token token = Token.awaitingLogin(cluster.module(), label, TokenProfile.SOFTHSM2,
        SessionPoolConfig.defaults())) {
      assertThat(token.isPresent()).isTrue();
      assertThatThrownBy(token::probe).isInstanceOf(DeviceLostException.class).hasMessageContaining("not logged in");
      Pin wrong = Pin.random(new SecureRandom(), 14);
      assertThatThrownBy(() -> token.logIn(wrong)).isInstanceOf(BadCredentialsException.class);
      assertThatThrownBy(token::probe).as("a refused PIN is not kept").isInstanceOf(DeviceLostException.class);

      token.logIn(cluster.kmsuserPin());

      token.probe();
    }
    assertThat(Token.awaitingLogin(cluster.module(), "no such token", TokenProfile.SOFTHSM2,
        SessionPoolConfig.defaults()).isPresent()).isFalse();
  }

  @Test
  void changedPinLogsInFromThenOn() {
    Pin next = Pin.random(new SecureRandom(), 14);
    String label = cluster.tokenLabels().get(1);
    try (Token token = cluster.login(2)) {
      token.changePin(cluster.kmsuserPin(), next);
    }
    assertThatThrownBy(() -> cluster.login(2)).isInstanceOf(BadCredentialsException.class);
    Token.login(cluster.module(), label, TokenProfile.SOFTHSM2, next, SessionPoolConfig.defaults()).close();
  }

  @Test
  void pinsAreRedacted() {
    Pin pin = Pin.of("s3cret-pin".toCharArray());
    assertThat(pin.toString()).doesNotContain("s3cret").isEqualTo("Pin[redacted]");
    assertThat(TokenProfile.AWS_CLOUDHSM.loginPin("kmsuser", pin).appearsIn("kmsuser:s3cret-pin")).isTrue();
    assertThat(TokenProfile.SOFTHSM2.loginPin("kmsuser", pin)).isSameAs(pin);
    assertThat(SessionPoolConfig.of(2, Duration.ofSeconds(1)).toString()).doesNotContain("s3cret");
  }

  private void assertNoLeak(Pin pin, String text) {
    assertThat(pin.appearsIn(text)).as("PIN in %s", text).isFalse();
    for (ILoggingEvent event : captured.list) {
      assertThat(pin.appearsIn(event.getFormattedMessage())).as("PIN in log line %s", event.getFormattedMessage())
          .isFalse();
      if (event.getThrowableProxy() != null) {
        assertThat(pin.appearsIn(event.getThrowableProxy().getMessage() + "")).isFalse();
      }
    }
  }
}
