package dev.keyhold.pkcs11;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKA_VALUE;

import iaik.pkcs.pkcs11.wrapper.CK_ATTRIBUTE;

/**
 * Reads a key's {@code CKA_VALUE} with the bare {@code C_GetAttributeValue}, as an attacker holding
 * the kmsuser password would: the wrapper's own getters turn a refusal into a null value.
 */
final class RawValue {
  private RawValue() {}

  static Object read(Token token, AesKey key) {
    return token.withKey(key, "C_GetAttributeValue", false, (session, handle) -> {
      CK_ATTRIBUTE[] template = {new CK_ATTRIBUTE()};
      template[0].type = CKA_VALUE;
      try {
        session.getModule().getPKCS11Module().C_GetAttributeValue(session.getSessionHandle(), handle, template, true);
      } catch (iaik.pkcs.pkcs11.wrapper.PKCS11Exception e) {
        throw session.getModule().convertException(e);
      }
      return template[0].pValue;
    });
  }
}
