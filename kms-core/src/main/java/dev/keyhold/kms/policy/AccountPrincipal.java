package dev.keyhold.kms.policy;

/**
 * What a key policy statement that names an account (its id or its root ARN) lets in, and who may run
 * the operations that name no key, such as CreateKey and ListKeys.
 */
public enum AccountPrincipal {
  /**
   * As in AWS: the account delegates to the identity policies of its principals. A caller is allowed
   * what such a statement allows only where one of its identity policies allows it too, and the
   * operations that name no key only where one allows them; the account root is allowed everything.
   * The operator mode's default.
   */
  DELEGATES_TO_IDENTITY_POLICIES,
  /**
   * Every caller of the account is allowed what such a statement allows, and every caller the
   * operations that name no key (the custom key store operations still need an identity policy): the
   * embedded default's setting, so that Keyhold can be tried without writing policies. An explicit
   * Deny in an identity policy still denies.
   */
  MEANS_EVERY_CALLER
}
