package dev.keyhold.bench;

import bench.Route;
import bench.Worker;
import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The adapter as a route of the baseline kit (/work/shared/bench), so that it is measured in the same
 * run as raw C, SunPKCS11 and ipkcs11wrapper. Compiled by {@code benchmarks/run-baselines} against
 * the kit's classes, which is why it lives outside {@code src/}.
 *
 * <p>One {@link Token}, so one session pool, for the whole route; every worker uses the same
 * {@link Aead}, and the pool gives each thread a session of its own. One op is one full
 * {@link Aead#encrypt} or {@link Aead#decrypt}: the adapter picks the IV, so the kit's IV is unused.
 */
public final class KeyholdRoute implements Route {
  private static final String TOKEN_LABEL = "bench"; // the label the kit gives its fresh token

  private final String modulePath;
  private final String userPin;
  private Pkcs11Module module;
  private Token token;
  private Aead aead;

  /** {@code slotId} is ignored: the adapter finds tokens by label, because SoftHSM2 renumbers slots. */
  public KeyholdRoute(String modulePath, long slotId, String userPin) {
    this.modulePath = modulePath;
    this.userPin = userPin;
  }

  @Override
  public void setup() {
    // The kit may hand us its counting shim instead of SoftHSM2, so load exactly this path.
    module = Pkcs11Module.load(Path.of(modulePath));
    token = Token.login(
        module, TOKEN_LABEL, TokenProfile.SOFTHSM2, Pin.of(userPin.toCharArray()), SessionPoolConfig.defaults());
    AesKey key = AesKey.of("bench-aes-keyhold", "keyhold".getBytes(StandardCharsets.US_ASCII));
    aead = token.aesGcm(token.generateAesKey(AesKeyTemplate.builder(key).build()));
  }

  @Override
  public void probe(PrintStream out) {
    out.println("NOTE,keyhold: module " + module.describe().replace(',', ';'));
    byte[] pt = new byte[100];
    byte[] first = aead.encrypt(pt, null);
    byte[] second = aead.encrypt(pt, null);
    out.println("NOTE,keyhold: encrypt 100 B -> " + first.length + " B (12-byte IV || ciphertext || 16-byte tag)");
    out.println("NOTE,keyhold: same plaintext twice -> IVs "
        + (Arrays.equals(first, 0, Aead.IV_LENGTH, second, 0, Aead.IV_LENGTH) ? "EQUAL (bad!)" : "differ")
        + " (the adapter draws a random 96-bit IV per call)");
    byte[] bad = first.clone();
    bad[bad.length - 1] ^= 1;
    try {
      aead.decrypt(bad, null);
      out.println("NOTE,keyhold: tampered tag ACCEPTED (bad!)");
    } catch (RuntimeException e) {
      out.println("NOTE,keyhold: tampered tag -> " + describe(e));
    }
    byte[] aad = {1, 2, 3};
    try {
      aead.decrypt(aead.encrypt(pt, aad), new byte[] {1, 2, 4});
      out.println("NOTE,keyhold: wrong AAD ACCEPTED (bad!)");
    } catch (RuntimeException e) {
      out.println("NOTE,keyhold: wrong AAD -> " + describe(e));
    }
  }

  private static String describe(RuntimeException e) {
    String returnValue = e instanceof Pkcs11Exception
        ? ((Pkcs11Exception) e).returnValue().orElse("raised by the adapter") : "not a Pkcs11Exception";
    return e.getClass().getSimpleName() + " (" + returnValue + ")";
  }

  @Override
  public Worker newWorker(int idx) {
    return new AeadWorker(idx, aead);
  }

  @Override
  public void close() {
    if (token != null) {
      token.close();
    }
    if (module != null) {
      module.close();
    }
  }

  /**
   * The kit wants {@code ciphertext || tag} from {@link #encryptOnce} and feeds it back to
   * {@link #decryptOnce}; the adapter's output also carries its IV in front, which this keeps aside.
   */
  private static final class AeadWorker extends Worker {
    private final Aead aead;
    private byte[] sealed; // IV || ciphertext || tag of the kit's plaintext, for decrypt ops

    AeadWorker(int idx, Aead aead) {
      super(idx);
      this.aead = aead;
    }

    @Override
    protected byte[] encryptOnce(byte[] unusedIv, byte[] plaintext) {
      sealed = aead.encrypt(plaintext, aad);
      return Arrays.copyOfRange(sealed, Aead.IV_LENGTH, sealed.length);
    }

    @Override
    protected byte[] decryptOnce(byte[] unusedIv, byte[] ciphertext) {
      // Decrypt what the kit hands back, under the IV the adapter chose for it.
      byte[] input = Arrays.copyOf(sealed, Aead.IV_LENGTH + ciphertext.length);
      System.arraycopy(ciphertext, 0, input, Aead.IV_LENGTH, ciphertext.length);
      return aead.decrypt(input, aad);
    }

    @Override
    protected void op() {
      // The result is discarded, as in the kit's ipkcs11 route: a JNI call cannot be optimised away.
      if (encrypt) {
        aead.encrypt(pt, aad);
      } else {
        aead.decrypt(sealed, aad);
      }
    }
  }
}
