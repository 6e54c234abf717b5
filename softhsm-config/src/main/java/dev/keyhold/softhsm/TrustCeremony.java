package dev.keyhold.softhsm;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.collect.ImmutableList;
import dev.keyhold.cluster.TrustedWrappingKey;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SecurityOfficer;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster's trust ceremony, run by the operator with the SO PIN, never by the service: puts the
 * same trusted wrapping key ({@link TrustedWrappingKey}) in every token of a cluster. The first run
 * generates it in the first token; every token without it, in the first run or when an HSM joins
 * later, receives it from a token that has it, over an ECDH-agreed transport key
 * ({@link SecurityOfficer#sendTrustedKey}). Tokens that have it are left alone, so it is idempotent.
 *
 * <p>Run it while the service is not logged in to these tokens from the same process: PKCS#11 allows
 * one kind of login per token and application.
 */
public final class TrustCeremony {
  private static final Logger LOG = LoggerFactory.getLogger(TrustCeremony.class);

  private TrustCeremony() {}

  /**
   * Makes every token of {@code tokenLabels} hold the trusted wrapping key.
   *
   * @return the labels of the tokens that received or generated it in this run
   */
  public static ImmutableList<String> run(Pkcs11Module module, List<String> tokenLabels, Pin soPin) {
    checkNotNull(module, "module");
    checkArgument(!tokenLabels.isEmpty(), "a cluster has at least one token");
    checkNotNull(soPin, "soPin");
    List<SecurityOfficer> officers = new ArrayList<>();
    try {
      for (String label : tokenLabels) {
        officers.add(SecurityOfficer.login(module, label, soPin));
      }
      SecurityOfficer source = officers.stream().filter(so -> so.hasTrustedKey(TrustedWrappingKey.NAME)).findFirst()
          .orElse(null);
      ImmutableList.Builder<String> changed = ImmutableList.builder();
      if (source == null) {
        source = officers.get(0);
        source.generateTrustedKey(TrustedWrappingKey.NAME);
        LOG.info("trusted wrapping key generated in token '{}'", source.label());
        changed.add(source.label());
      }
      for (SecurityOfficer target : officers) {
        if (!target.hasTrustedKey(TrustedWrappingKey.NAME)) {
          source.sendTrustedKey(TrustedWrappingKey.NAME, target);
          LOG.info("trusted wrapping key sent from token '{}' to token '{}'", source.label(), target.label());
          changed.add(target.label());
        }
      }
      return changed.build();
    } finally {
      officers.forEach(SecurityOfficer::close);
    }
  }
}
