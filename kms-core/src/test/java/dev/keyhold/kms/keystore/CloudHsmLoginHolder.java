package dev.keyhold.kms.keystore;

import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.nio.file.Path;

/**
 * Another client of a CloudHSM cluster, logged in as kmsuser for {@link CloudHsmProfileTest}: {@code
 * MODULE LABEL} logs in with the password in {@code KMSUSER_PASSWORD}, prints "logged in", and stays
 * logged in until its standard input closes.
 */
public final class CloudHsmLoginHolder {
  private CloudHsmLoginHolder() {}

  public static void main(String[] args) throws Exception {
    Pin password = Pin.of(System.getenv("KMSUSER_PASSWORD").toCharArray());
    try (Pkcs11Module module = Pkcs11Module.load(Path.of(args[0]));
        Token token = Token.login(module, args[1], TokenProfile.AWS_CLOUDHSM,
            TokenProfile.AWS_CLOUDHSM.loginPin(KeyStoreConnections.KMSUSER, password), SessionPoolConfig.defaults())) {
      System.out.println("logged in");
      System.out.flush();
      System.in.readAllBytes();
    }
  }
}
