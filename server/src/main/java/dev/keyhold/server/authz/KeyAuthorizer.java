package dev.keyhold.server.authz;

import dev.keyhold.kms.error.KmsException;
import dev.keyhold.server.auth.Caller;
import java.util.Map;

/** Decides, from a KMS key's policy, whether a caller may run an action on it. */
public interface KeyAuthorizer {
  /**
   * Checks that {@code policy}, the policy of the key {@code keyArn}, lets {@code caller} run {@code action}.
   *
   * @param action the IAM action, e.g. {@code kms:Encrypt}
   * @param encryptionContext the request's encryption context (empty if none), for
   *     {@code kms:EncryptionContext:*} and {@code kms:EncryptionContextKeys} conditions
   * @throws KmsException {@code AccessDeniedException} with AWS's message unless an Allow statement
   *     matches and no Deny does
   */
  void authorize(Caller caller, String action, String keyArn, String policy, Map<String, String> encryptionContext);
}
