package dev.keyhold.server.auth;

/**
 * The {@code Credential} parameter of a SigV4 signature:
 * {@code <access key id>/<yyyymmdd>/<region>/<service>/aws4_request}.
 */
record CredentialScope(String accessKeyId, String date, String region, String service, String terminator) {
  static final String TERMINATOR = "aws4_request";

  @SuppressWarnings("StringSplitter") // String.split's dropping of trailing empty parts is the point here
  static CredentialScope parse(String credential) {
    String[] parts = credential.split("/"); // drops trailing empty parts: AWS ignores trailing slashes
    if (parts.length != 5) {
      throw AuthErrors.incompleteSignature("Credential must have exactly 5 slash-delimited elements, "
          + "e.g. keyid/date/region/service/term, got '" + credential + "'");
    }
    return new CredentialScope(parts[0], parts[1], parts[2], parts[3], parts[4]);
  }

  /**
   * Checks the scope against the service's region and name and the request's date; like AWS, names
   * every mismatch at once.
   *
   * @param requestDate the request's date in ISO 8601 basic format, e.g. {@code 20250101T120000Z}
   */
  void check(String expectedRegion, String expectedService, String requestDate) {
    StringBuilder mismatches = new StringBuilder();
    if (!region.equals(expectedRegion)) {
      mismatches.append("Credential should be scoped to a valid region, not '" + region + "'. ");
    }
    if (!service.equals(expectedService)) {
      mismatches.append("Credential should be scoped to correct service: '" + expectedService + "'. ");
    }
    if (!terminator.equals(TERMINATOR)) {
      mismatches.append(
          "Credential should be scoped with a valid terminator: '" + TERMINATOR + "', not '" + terminator + "'. ");
    }
    String requestDay = requestDate.substring(0, "yyyymmdd".length());
    if (!date.equals(requestDay)) {
      mismatches.append("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"
          + date + "' != '" + requestDay + "', from '" + requestDate + "'.");
    }
    if (mismatches.length() > 0) {
      throw AuthErrors.invalidSignature(mismatches.toString());
    }
  }
}
