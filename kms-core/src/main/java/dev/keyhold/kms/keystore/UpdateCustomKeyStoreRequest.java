package dev.keyhold.kms.keystore;

import dev.keyhold.pkcs11.Pin;

/** UpdateCustomKeyStore's input: the id, and any of a new name, password and cluster. */
public record UpdateCustomKeyStoreRequest(
    String customKeyStoreId, String newCustomKeyStoreName, Pin keyStorePassword, String cloudHsmClusterId) {}
