package dev.keyhold.kms.key;

import com.google.common.collect.ImmutableList;
import dev.keyhold.kms.keystore.ConnectedStore;
import dev.keyhold.kms.keystore.ServingHsm;
import dev.keyhold.pkcs11.DeviceLostException;
import dev.keyhold.pkcs11.InvalidCiphertextException;
import dev.keyhold.pkcs11.Pkcs11Exception;
import java.util.Optional;

/**
 * Runs one operation on the HSMs of a store, one after another, until one does it: work starts at a
 * different HSM each time (spreading it), HSMs known to be lost are tried only when no other HSM
 * could do it, and an HSM that stops answering is marked lost on the way. The caller sees an error
 * only when no HSM could do the work, or when the answer itself is the error (a tag that does not
 * verify is the same on every HSM).
 */
final class Failover {
  /** Work on the HSM at {@code index} of {@link ConnectedStore#hsms()}. */
  @FunctionalInterface
  interface HsmCall<T> {
    T call(int index, ServingHsm hsm);
  }

  private Failover() {}

  /**
   * @return the first result, or empty if the store has no HSM logged in
   * @throws Pkcs11Exception the last HSM's failure when none succeeded, or at once an
   *     {@link InvalidCiphertextException}
   */
  static <T> Optional<T> run(ConnectedStore store, HsmCall<T> call) {
    ImmutableList<ServingHsm> hsms = store.hsms();
    if (hsms.isEmpty()) {
      return Optional.empty();
    }
    int count = hsms.size();
    int start = store.nextStart();
    Pkcs11Exception last = null;
    for (int attempt = 0; attempt < 2 * count; attempt++) {
      int index = (start + attempt) % count;
      ServingHsm hsm = hsms.get(index);
      boolean secondPass = attempt >= count;
      if (hsm.isLost() != secondPass) {
        continue; // first pass: the answering HSMs; second pass: the lost ones, as a last resort
      }
      try {
        T result = call.call(index, hsm);
        if (secondPass) {
          hsm.markAnswering();
        }
        return Optional.of(result);
      } catch (InvalidCiphertextException e) {
        throw e;
      } catch (DeviceLostException e) {
        hsm.markLost();
        last = e;
      } catch (Pkcs11Exception e) {
        last = e; // e.g. the key is not on this HSM yet: another may hold it
      }
    }
    throw last;
  }
}
