package dev.keyhold.kms.keystore;

import dev.keyhold.kms.secret.MasterKeyRotation;
import dev.keyhold.kms.secret.SealedSecret;
import java.sql.Connection;
import java.sql.SQLException;

/** The key stores' sealed kmsuser passwords (the one known, and a rotation's pending one), for a master key rotation. */
public final class KeyStoreSecrets implements MasterKeyRotation.SealedSecrets {
  @Override
  public void resealAll(Connection c, MasterKeyRotation.Reseal reseal) throws SQLException {
    for (KeyStoreRecord store : KeyStoreTable.all(c)) {
      SealedSecret pending = store.pendingPassword == null ? null : reseal.apply(store.pendingPassword, store.id);
      KeyStoreTable.update(c, store.withResealed(reseal.apply(store.password, store.id), pending));
    }
  }
}
