package dev.keyhold.kms.keystore;

import dev.keyhold.pkcs11.Pin;

/** CreateCustomKeyStore's input; members may be null where AWS lets them be absent. */
public record CreateCustomKeyStoreRequest(
    String customKeyStoreName,
    String cloudHsmClusterId,
    String trustAnchorCertificate,
    Pin keyStorePassword,
    String customKeyStoreType) {}
