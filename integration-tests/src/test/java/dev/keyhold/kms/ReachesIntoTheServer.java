package dev.keyhold.kms;

import dev.keyhold.kms.key.KmsCrypto;
import dev.keyhold.kms.key.KmsKeys;
import dev.keyhold.server.KeyholdServer;

/**
 * A deliberately wrong core class, for ArchitectureTest to show that its rules catch one: it names
 * the server, and it wires a core service outside the composition root.
 */
public final class ReachesIntoTheServer {
  private ReachesIntoTheServer() {}

  static KmsCrypto wiredByHand(KmsKeys keys, KeyholdServer server) {
    return new KmsCrypto(keys, null, null);
  }
}
