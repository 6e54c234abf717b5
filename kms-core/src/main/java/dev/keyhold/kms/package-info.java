/**
 * The KMS layer: custom key stores bound to HSM clusters, KMS keys and their lifecycle, the crypto
 * operations, key policies and the metadata store. It reaches HSMs only through
 * {@code dev.keyhold.pkcs11}. {@link dev.keyhold.kms.Keyhold} assembles it.
 */
package dev.keyhold.kms;
