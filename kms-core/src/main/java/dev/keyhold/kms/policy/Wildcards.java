package dev.keyhold.kms.policy;

/**
 * IAM's wildcards: {@code *} matches any run of characters, {@code ?} any one character. Matching is
 * case-sensitive; callers lower-case both sides where IAM ignores case.
 */
final class Wildcards {
  private static final int ARN_PARTS = 6;

  private Wildcards() {}

  static boolean matches(String pattern, String value) {
    int p = 0;
    int v = 0;
    // The last '*' seen and where in the value its run ends: on a mismatch that '*' takes one more
    // character and matching resumes after it. Retrying the last '*' alone is enough: whatever an
    // earlier one would take more, the last one can take instead.
    int star = -1;
    int swallowed = 0;
    while (v < value.length()) {
      if (p < pattern.length() && pattern.charAt(p) == '*') {
        star = p++;
        swallowed = v;
      } else if (p < pattern.length() && (pattern.charAt(p) == '?' || pattern.charAt(p) == value.charAt(v))) {
        p++;
        v++;
      } else if (star >= 0) {
        p = star + 1;
        v = ++swallowed;
      } else {
        return false;
      }
    }
    while (p < pattern.length() && pattern.charAt(p) == '*') {
      p++;
    }
    return p == pattern.length();
  }

  /**
   * How Resource and the ARN condition operators compare: {@code *} alone is any resource; otherwise
   * each of the six colon-separated parts is matched on its own, so no wildcard reaches across the
   * colons before the resource part.
   */
  static boolean arnMatches(String pattern, String arn) {
    if (pattern.equals("*")) {
      return true;
    }
    String[] patternParts = pattern.split(":", ARN_PARTS);
    String[] arnParts = arn.split(":", ARN_PARTS);
    if (patternParts.length != ARN_PARTS || arnParts.length != ARN_PARTS) {
      return false;
    }
    for (int i = 0; i < ARN_PARTS; i++) {
      if (!matches(patternParts[i], arnParts[i])) {
        return false;
      }
    }
    return true;
  }
}
