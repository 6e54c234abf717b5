package dev.keyhold.kms.keystore;

import static com.google.common.base.Preconditions.checkNotNull;

import dev.keyhold.kms.secret.SealedSecret;
import java.time.Instant;
import java.util.Optional;

/**
 * A custom key store as the metadata store keeps it. Immutable; the {@code with...} methods return
 * changed copies. The kmsuser password is only ever held sealed under the master key.
 */
final class KeyStoreRecord {
  final String id;
  final String name;
  final String clusterId;
  final String trustAnchorCertificate;
  final ConnectionState state;
  final ConnectionErrorCode errorCode; // null unless FAILED
  final Instant creationDate;
  final int passwordVersion;
  final SealedSecret password;
  final SealedSecret pendingPassword; // version passwordVersion + 1 while a rotation is under way, else null

  KeyStoreRecord(String id, String name, String clusterId, String trustAnchorCertificate, ConnectionState state,
      ConnectionErrorCode errorCode, Instant creationDate, int passwordVersion, SealedSecret password,
      SealedSecret pendingPassword) {
    this.id = checkNotNull(id);
    this.name = checkNotNull(name);
    this.clusterId = checkNotNull(clusterId);
    this.trustAnchorCertificate = checkNotNull(trustAnchorCertificate);
    this.state = checkNotNull(state);
    this.errorCode = errorCode;
    this.creationDate = checkNotNull(creationDate);
    this.passwordVersion = passwordVersion;
    this.password = checkNotNull(password);
    this.pendingPassword = pendingPassword;
  }

  Optional<ConnectionErrorCode> errorCode() {
    return Optional.ofNullable(errorCode);
  }

  KeyStoreRecord withState(ConnectionState newState, ConnectionErrorCode newErrorCode) {
    return new KeyStoreRecord(id, name, clusterId, trustAnchorCertificate, newState, newErrorCode, creationDate,
        passwordVersion, password, pendingPassword);
  }

  KeyStoreRecord withName(String newName) {
    return new KeyStoreRecord(id, newName, clusterId, trustAnchorCertificate, state, errorCode, creationDate,
        passwordVersion, password, pendingPassword);
  }

  KeyStoreRecord withCluster(String newClusterId) {
    return new KeyStoreRecord(id, name, newClusterId, trustAnchorCertificate, state, errorCode, creationDate,
        passwordVersion, password, pendingPassword);
  }

  /** The operator told us the password: it replaces whatever rotation was under way. */
  KeyStoreRecord withPassword(SealedSecret newPassword) {
    return new KeyStoreRecord(id, name, clusterId, trustAnchorCertificate, state, errorCode, creationDate,
        passwordVersion + 1, newPassword, null);
  }

  KeyStoreRecord withPendingPassword(SealedSecret pending) {
    return new KeyStoreRecord(id, name, clusterId, trustAnchorCertificate, state, errorCode, creationDate,
        passwordVersion, password, pending);
  }

  /** The same passwords, sealed again (under another master key): nothing else changes. */
  KeyStoreRecord withResealed(SealedSecret samePassword, SealedSecret samePending) {
    return new KeyStoreRecord(id, name, clusterId, trustAnchorCertificate, state, errorCode, creationDate,
        passwordVersion, samePassword, samePending);
  }

  /** Every HSM now holds the pending password: it becomes the password. */
  KeyStoreRecord withPendingPromoted() {
    return new KeyStoreRecord(id, name, clusterId, trustAnchorCertificate, state, errorCode, creationDate,
        passwordVersion + 1, checkNotNull(pendingPassword), null);
  }

  @Override
  public String toString() {
    return "KeyStoreRecord[" + id + ", " + name + ", " + clusterId + ", " + state + "]";
  }
}
