package dev.keyhold.server.auth;

import com.google.common.base.CharMatcher;
import com.google.common.base.Splitter;
import com.google.common.base.Strings;
import com.google.common.collect.ImmutableList;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The parameters of an {@code Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...} header.
 *
 * @param credential {@code <access key id>/<yyyymmdd>/<region>/<service>/aws4_request}, unchecked
 * @param signedHeaders the names as the client listed them
 */
record AuthorizationHeader(String credential, ImmutableList<String> signedHeaders, String signature) {
  static final String ALGORITHM = "AWS4-HMAC-SHA256";
  /** Commas and whitespace both separate parameters: clients write ", " or a bare ",". */
  private static final Splitter TOKENS =
      Splitter.on(CharMatcher.whitespace().or(CharMatcher.is(','))).omitEmptyStrings();
  private static final ImmutableList<String> REQUIRED_PARAMETERS =
      ImmutableList.of("Credential", "Signature", "SignedHeaders");

  /**
   * @param hasDate whether the request has an {@code X-Amz-Date} or {@code Date} header; AWS reports
   *     its absence together with any missing parameter
   */
  static AuthorizationHeader parse(String header, boolean hasDate) {
    List<String> tokens = TOKENS.splitToList(header);
    if (tokens.isEmpty() || !tokens.get(0).startsWith("AWS4-")) {
      // Another scheme (Basic, Bearer...) is no AWS signature at all, and its token may be a secret.
      throw AuthErrors.missingAuthenticationToken();
    }
    if (!tokens.get(0).equals(ALGORITHM)) {
      throw AuthErrors.incompleteSignature(
          "Unsupported AWS 'algorithm': '" + tokens.get(0) + "' (only " + ALGORITHM + " for now). ");
    }
    Map<String, String> parameters = new HashMap<>();
    for (String token : tokens.subList(1, tokens.size())) {
      int equals = token.indexOf('=');
      if (equals > 0) {
        parameters.put(token.substring(0, equals), token.substring(equals + 1)); // the last one wins, as on AWS
      }
    }
    List<String> missing = new ArrayList<>();
    for (String name : REQUIRED_PARAMETERS) {
      if (Strings.isNullOrEmpty(parameters.get(name))) {
        missing.add("Authorization header requires '" + name + "' parameter.");
      }
    }
    if (!hasDate) {
      missing.add("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    if (!missing.isEmpty()) {
      // AWS ends with the whole header; only its algorithm is repeated here, never a signature.
      throw AuthErrors.incompleteSignature(String.join(" ", missing) + " Authorization=" + ALGORITHM);
    }
    return new AuthorizationHeader(
        parameters.get("Credential"),
        ImmutableList.copyOf(Splitter.on(';').split(parameters.get("SignedHeaders"))),
        parameters.get("Signature"));
  }

  /** Whether {@code header} is among the signed ones, whatever the case of the client's list. */
  boolean signs(String header) {
    return signedHeaders.stream().anyMatch(header::equalsIgnoreCase);
  }

  @Override
  public String toString() {
    return "AuthorizationHeader[credential=" + credential + ", signedHeaders=" + String.join(";", signedHeaders)
        + ", signature=redacted]";
  }
}
