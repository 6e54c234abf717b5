/**
 * The KMS layer: custom key stores bound to HSM clusters, KMS keys and their lifecycle, the crypto
 * operations and the metadata store. It reaches HSMs only through {@code dev.keyhold.pkcs11}.
 *
 * <p>Empty until the key store issue lands; the module exists so the build's shape is settled.
 */
package dev.keyhold.kms;
