package dev.keyhold.softhsm;

import dev.keyhold.pkcs11.Aead;
import dev.keyhold.pkcs11.AesKey;
import dev.keyhold.pkcs11.AesKeyTemplate;
import dev.keyhold.pkcs11.InvalidCiphertextException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bin/keyhold}: until the HTTP service lands, shows the path a KMS Encrypt will take. It
 * provisions a local 2-HSM cluster in a throwaway directory, generates a non-extractable AES-256 key
 * in each HSM, and runs an AES-GCM round trip inside the tokens.
 */
@Command(name = "keyhold", mixinStandardHelpOptions = true,
    description = "Provisions a throwaway 2-HSM SoftHSM2 cluster and encrypts inside its tokens.")
public final class Demo implements Callable<Integer> {
  @Option(names = "--dir", required = true, paramLabel = "DIR", description = "Throwaway SoftHSM2 directory.")
  Path dir;

  @Option(names = "--module", defaultValue = "/usr/lib/softhsm/libsofthsm2.so", paramLabel = "PATH")
  Path modulePath;

  @Override
  public Integer call() {
    SecureRandom random = new SecureRandom();
    SoftHsmDirectory directory = SoftHsmDirectory.at(dir);
    directory.create();
    directory.checkActiveInThisProcess();
    ClusterId cluster = ClusterId.random(random);
    Pin soPin = Pin.random(random, 16);
    Pin kmsuserPin = Pin.random(random, 16);
    byte[] plaintext = "Hello from inside the HSM".getBytes(StandardCharsets.UTF_8);
    byte[] context = "purpose=demo".getBytes(StandardCharsets.UTF_8);
    try (Pkcs11Module module = Pkcs11Module.load(modulePath)) {
      System.out.println("module   " + module.describe());
      new ClusterProvisioner(module).provision(cluster, 2, soPin, kmsuserPin);
      for (String label : cluster.tokenLabels(2)) {
        try (Token token = Token.login(module, label, TokenProfile.SOFTHSM2, kmsuserPin, SessionPoolConfig.defaults())) {
          AesKey key = token.generateAesKey(AesKeyTemplate.builder(AesKey.of("demo-key", new byte[] {1})).build());
          Aead aead = token.aesGcm(key);
          byte[] ciphertext = aead.encrypt(plaintext, context);
          byte[] decrypted = aead.decrypt(ciphertext, context);
          System.out.println("token    " + label + ": key " + key.label() + " generated inside the token");
          System.out.println("  encrypt " + plaintext.length + " B -> " + ciphertext.length + " B (IV || ciphertext || tag) "
              + Base64.getEncoder().encodeToString(ciphertext));
          System.out.println("  decrypt -> \"" + new String(decrypted, StandardCharsets.UTF_8) + "\" "
              + (Arrays.equals(plaintext, decrypted) ? "(round trip OK)" : "(MISMATCH)"));
          try {
            aead.decrypt(ciphertext, "purpose=other".getBytes(StandardCharsets.UTF_8));
          } catch (InvalidCiphertextException expected) {
            System.out.println("  decrypt with another context -> InvalidCiphertextException (as it must)");
          }
        }
      }
    }
    return 0;
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new Demo()).execute(args));
  }
}
