package dev.keyhold.server.wire;

import dev.keyhold.kms.Keyhold;
import dev.keyhold.server.authz.KmsOperation;

/**
 * How one KMS operation reads off the wire, and what it runs.
 *
 * @param requestType the record its JSON body reads into ({@link WireJson})
 * @param call the operation: it asks {@code keys} for every key it uses, and returns what to answer
 *     with, written as JSON
 */
record WireOperation<R>(KmsOperation operation, Class<R> requestType, Call<R> call) {
  @FunctionalInterface
  interface Call<R> {
    Object run(Keyhold keyhold, KeyAccess keys, R request);
  }
}
