package dev.keyhold.kms.key;

import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.policy.Policy;
import dev.keyhold.pkcs11.Aead;
import java.util.List;

/**
 * A KMS key as a request resolved it (from a key id, key ARN, alias name or alias ARN): its record,
 * its state, its parsed key policy and its grants. A request resolves its key once ({@link KmsKeys#resolve}), is
 * authorized against it, and runs its operation on it.
 *
 * <p>Immutable but for the key's AES-GCM on each HSM, which the crypto operations attach on first
 * use; it is dropped with the key when the key's cache entry is ({@link KeyRecords#changed}).
 */
public final class ResolvedKey {
  private final KeyRecord record;
  private final Policy policy;
  private final List<GrantListEntry> grants;
  private volatile Aeads aeads;

  ResolvedKey(KeyRecord record, Policy policy, List<GrantListEntry> grants) {
    this.record = record;
    this.policy = policy;
    this.grants = List.copyOf(grants);
  }

  public String keyId() {
    return record.keyId();
  }

  public String arn() {
    return record.arn();
  }

  /** The custom key store whose HSMs hold the key's material. */
  public String keyStoreId() {
    return record.keyStoreId();
  }

  public KeyState state() {
    return record.state();
  }

  /** The key's policy, parsed when the key was resolved. */
  public Policy policy() {
    return policy;
  }

  /** The key's grants, oldest first, read with the key. */
  public List<GrantListEntry> grants() {
    return grants;
  }

  KeyRecord record() {
    return record;
  }

  /** The key's AES-GCM on each HSM of {@code logins}, if attached for those logins. */
  Aead[] aeadsFor(ConnectedStore logins) {
    Aeads current = aeads;
    return current != null && current.logins == logins ? current.perHsm : null;
  }

  void attach(ConnectedStore logins, Aead[] perHsm) {
    aeads = new Aeads(logins, perHsm);
  }

  /** Drops the attached AES-GCMs after an HSM call failed, so that the next call binds afresh. */
  void detach() {
    aeads = null;
  }

  @Override
  public String toString() {
    return "ResolvedKey[" + record.arn() + ", " + record.state() + "]";
  }

  /** The key's {@link Aead} on each HSM, in the order of {@link ConnectedStore#hsms()}, and those logins. */
  private record Aeads(ConnectedStore logins, Aead[] perHsm) {}
}
