package dev.keyhold.server;

import dev.keyhold.kms.key.Account;
import dev.keyhold.kms.key.KeyReplication;
import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.kms.keystore.CustomKeyStores;
import dev.keyhold.kms.keystore.KeyStoreConnections;

/** What the HTTP layer serves; built, and closed, by whoever starts the server. */
public record Backend(
    Account account,
    CustomKeyStores keyStores,
    KeyStoreConnections connections,
    KmsKeys keys,
    KmsCrypto crypto,
    KeyReplication replication) {}
