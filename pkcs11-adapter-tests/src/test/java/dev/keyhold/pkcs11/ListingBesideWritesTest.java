package dev.keyhold.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.shims.CloudHsmStandIn;
import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A key store's first keys are made while its tokens' keys are listed (the handle index filled after
 * a connect, the reconciler's pass). SoftHSM2's searches spoil the objects being written beside them
 * ({@link TokenProfile#searchesRaceObjectWrites}), so the adapter keeps the two apart on its tokens,
 * and the CloudHSM stand-in, which a CloudHSM-like module must never show that, keeps them apart
 * itself. Without either, a few of the first keys made here failed to be generated or unwrapped.
 */
class ListingBesideWritesTest {
  @RegisterExtension static final SoftHsmClusterExtension cluster = SoftHsmClusterExtension.withHsms(2);
  private static final int KEYS = 100;

  @TempDir Path work;

  @Test
  void onSoftHsm2KeysMadeAndCopiedWhileAnotherThreadListsBothTokensAllArrive() throws InterruptedException {
    try (Token first = cluster.login(1); Token second = cluster.login(2)) {
      List<String> failures = whileListing(List.of(first, second), n -> {
        AesKeyTemplate template = AesKeyTemplate.builder(name("softhsm2", n)).replicable().build();
        second.unwrapAesKey(TrustedWrappingKey.NAME,
            first.wrapKey(TrustedWrappingKey.NAME, first.generateAesKey(template)), template);
      });
      assertThat(failures).isEmpty();
      assertThat(second.listAesKeys()).filteredOn(key -> key.label().startsWith("softhsm2-")).hasSize(KEYS);
    }
  }

  @Test
  void onTheCloudHsmStandInKeysMadeWhileAnotherThreadListsAllArrive() throws InterruptedException {
    CloudHsmStandIn.Builder builder = CloudHsmStandIn.builder(work, SoftHsmClusterExtension.modulePath())
        .slotLabel("standin-listing").hsms(cluster.tokenLabels()).user("kmsuser", "Listing-Password".toCharArray());
    cluster.kmsuserPin().withChars(chars -> builder.hsmPin(chars));
    try (Pkcs11Module module = Pkcs11Module.load(builder.build().module());
        Token token = Token.login(module, "standin-listing", TokenProfile.AWS_CLOUDHSM,
            TokenProfile.AWS_CLOUDHSM.loginPin("kmsuser", Pin.of("Listing-Password".toCharArray())),
            SessionPoolConfig.defaults())) {
      List<String> failures =
          whileListing(List.of(token), n -> token.generateAesKey(AesKeyTemplate.builder(name("standin", n)).build()));
      assertThat(failures).isEmpty();
      assertThat(token.listAesKeys()).filteredOn(key -> key.label().startsWith("standin-")).hasSize(KEYS);
    }
  }

  /** Makes {@link #KEYS} keys with {@code make} while a thread lists {@code tokens}; the failures. */
  private static List<String> whileListing(List<Token> tokens, KeyMaker make) throws InterruptedException {
    AtomicBoolean done = new AtomicBoolean();
    Thread lister = new Thread(() -> {
      while (!done.get()) {
        tokens.forEach(Token::listAesKeys);
      }
    }, "lister");
    lister.start();
    List<String> failures = new ArrayList<>();
    try {
      for (int n = 0; n < KEYS; n++) {
        try {
          make.make(n);
        } catch (Pkcs11Exception e) {
          failures.add("key " + n + ": " + e.getMessage());
        }
      }
    } finally {
      done.set(true);
      lister.join();
    }
    return failures;
  }

  /** The {@code n}th key of a test, named apart from the other test's, since both use the same tokens. */
  private static AesKey name(String test, int n) {
    return AesKey.of(test + "-" + n, new byte[] {(byte) n, (byte) (n >> 8)});
  }

  private interface KeyMaker {
    void make(int n);
  }
}
