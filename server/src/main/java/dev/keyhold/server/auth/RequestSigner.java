package dev.keyhold.server.auth;

import static com.google.common.base.Preconditions.checkArgument;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.cache.Cache;
import com.google.common.cache.CacheBuilder;
import com.google.common.collect.ImmutableSet;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Computes the SigV4 signature a request should carry, for one region and service: the canonical
 * request, the string to sign, the signing key and the HMAC, as AWS documents them ("Create a signed
 * AWS API request") and as the AWS SDK for Java v2 canonicalises them, path normalisation and double
 * URL-encoding included. {@code RequestSignerTest} holds it to the SDK's own signer over generated
 * requests.
 *
 * <p>It runs for every request, so it is built for that: the canonical request goes into one
 * per-thread buffer, digests and MACs are per thread, and the signing key, which depends only on the
 * secret and the day, is derived once per credential and day rather than with four HMACs per request.
 * What KMS clients send, {@code POST /} with no query, takes no URI parsing at all.
 *
 * <p>Like the SDK's signers, it never signs {@code connection}, {@code expect}, {@code user-agent} or
 * {@code x-amzn-trace-id}, so a client that signs one of them (no AWS SDK or CLI does) cannot be
 * verified; and a signed header the request lacks is left out, as the SDK leaves it.
 */
final class RequestSigner {
  private static final String ALGORITHM = "AWS4-HMAC-SHA256";
  private static final String HMAC_SHA256 = "HmacSHA256";
  private static final ImmutableSet<String> NEVER_SIGNED =
      ImmutableSet.of("connection", "expect", "user-agent", "x-amzn-trace-id");
  private static final ImmutableSet<String> METHODS =
      ImmutableSet.of("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS");
  private static final HexFormat HEX = HexFormat.of();
  /** Stands in for the scheme and authority, which are not signed (the host header is). */
  private static final String UNSIGNED_ORIGIN = "https://unsigned.invalid";
  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  private final String region;
  private final String service;
  /** By credential, compared by identity: a credential replaced under the same id gets a new key. */
  private final Cache<Credential, DayKey> signingKeys = CacheBuilder.newBuilder().weakKeys().build();

  RequestSigner(String region, String service) {
    this.region = region;
    this.service = service;
  }

  /**
   * The hex signature of {@code request} over {@code signedHeaders} and its whole body, signed with
   * {@code credential} at {@code amzDate}.
   *
   * @param amzDate the request's date in ISO-8601 basic format, {@code yyyyMMdd'T'HHmmss'Z'}, as sent
   * @throws IllegalArgumentException if the request's method or target cannot be canonicalised; such
   *     a request carries no signature we would accept
   */
  String signature(HttpRequestView request, List<String> signedHeaders, Credential credential, String amzDate) {
    checkArgument(METHODS.contains(request.method()), "not a method SigV4 clients sign: %s", request.method());
    checkArgument(request.path().startsWith("/"), "not an origin-form request target");
    Scratch scratch = SCRATCH.get();
    StringBuilder text = scratch.text;
    text.setLength(0);
    text.append(request.method()).append('\n');
    appendCanonicalUri(text, request.path(), request.rawQuery());
    text.append('\n');
    appendCanonicalQuery(text, request.rawQuery());
    text.append('\n');
    appendCanonicalHeaders(text, request, signedHeaders);
    text.append(HEX.formatHex(scratch.sha256.digest(request.body())));
    String canonicalRequestHash = HEX.formatHex(scratch.sha256.digest(text.toString().getBytes(UTF_8)));

    String day = amzDate.substring(0, 8);
    text.setLength(0);
    text.append(ALGORITHM).append('\n').append(amzDate).append('\n')
        .append(day).append('/').append(region).append('/').append(service).append("/aws4_request\n")
        .append(canonicalRequestHash);
    return HEX.formatHex(scratch.hmac(signingKey(credential, day), text.toString()));
  }

  private byte[] signingKey(Credential credential, String day) {
    DayKey known = signingKeys.getIfPresent(credential);
    if (known != null && known.day.equals(day)) {
      return known.key;
    }
    Scratch scratch = SCRATCH.get();
    byte[] key = credential.secretAccessKey().withChars(secret -> {
      // Encoded without a String of the secret, which nothing could wipe.
      CharBuffer prefixed = CharBuffer.allocate(4 + secret.length).put("AWS4").put(secret).flip();
      ByteBuffer encoded = UTF_8.encode(prefixed);
      byte[] initial = new byte[encoded.remaining()];
      encoded.get(initial);
      try {
        return scratch.hmac(initial, day);
      } finally {
        Arrays.fill(prefixed.array(), '\0');
        Arrays.fill(encoded.array(), (byte) 0);
        Arrays.fill(initial, (byte) 0);
      }
    });
    key = scratch.hmac(key, region);
    key = scratch.hmac(key, service);
    key = scratch.hmac(key, "aws4_request");
    signingKeys.put(credential, new DayKey(day, key));
    return key;
  }

  /** A credential's signing key for one day (UTC, {@code yyyyMMdd}). */
  private record DayKey(String day, byte[] key) {
    @Override
    public String toString() {
      return "DayKey[" + day + ", redacted]";
    }
  }

  /**
   * The path normalised (dot segments removed) and URI-encoded again, as SigV4 asks of every service
   * but S3.
   */
  private static void appendCanonicalUri(StringBuilder text, String path, String rawQuery) {
    if (path.equals("/")) {
      text.append('/');
      return;
    }
    URI uri = URI.create(UNSIGNED_ORIGIN + path + (rawQuery.isEmpty() ? "" : "?" + rawQuery));
    String normalized = uri.normalize().getRawPath();
    if (normalized.isEmpty()) {
      text.append('/');
      return;
    }
    String encoded = encode(normalized, true);
    if (encoded.length() > 1 && encoded.endsWith("/") && !uri.getPath().endsWith("/")) {
      encoded = encoded.substring(0, encoded.length() - 1); // normalising added it
    }
    text.append(encoded);
  }

  /** Parameters decoded, encoded strictly, and sorted by name and then value; unnamed ones dropped. */
  private static void appendCanonicalQuery(StringBuilder text, String rawQuery) {
    if (rawQuery.isEmpty()) {
      return;
    }
    Map<String, List<String>> parameters = new TreeMap<>();
    for (String parameter : rawQuery.split("&", -1)) {
      int equals = parameter.indexOf('=');
      String name = URLDecoder.decode(equals < 0 ? parameter : parameter.substring(0, equals), UTF_8);
      if (name.isEmpty()) {
        continue;
      }
      String value = equals < 0 ? "" : URLDecoder.decode(parameter.substring(equals + 1), UTF_8);
      parameters.computeIfAbsent(encode(name, false), n -> new ArrayList<>()).add(encode(value, false));
    }
    String separator = "";
    for (Map.Entry<String, List<String>> parameter : parameters.entrySet()) {
      Collections.sort(parameter.getValue());
      for (String value : parameter.getValue()) {
        text.append(separator).append(parameter.getKey()).append('=').append(value);
        separator = "&";
      }
    }
  }

  /** RFC 3986's encoding: everything but {@code A-Za-z0-9-_.~} (and {@code /} if kept) as {@code %XX}. */
  private static String encode(String value, boolean keepSlashes) {
    String encoded = URLEncoder.encode(value, UTF_8).replace("+", "%20").replace("*", "%2A").replace("%7E", "~");
    return keepSlashes ? encoded.replace("%2F", "/") : encoded;
  }

  /**
   * {@code name:values} lines for the signed headers the request has, sorted by name, then the blank
   * line and the list of their names. Each value is trimmed and its runs of white space made one
   * space; several values are joined by commas.
   */
  private static void appendCanonicalHeaders(StringBuilder text, HttpRequestView request, List<String> signedHeaders) {
    Map<String, List<String>> headers = new TreeMap<>(); // by the name in lower case
    for (String name : signedHeaders) {
      String lowerCase = name.toLowerCase(Locale.ROOT);
      List<String> values = request.headers().get(name);
      if (!values.isEmpty() && !NEVER_SIGNED.contains(lowerCase)) {
        headers.put(lowerCase, values);
      }
    }
    headers.forEach((name, values) -> {
      text.append(name).append(':');
      for (String value : values) {
        appendTrimmed(text, value);
        text.append(',');
      }
      text.setCharAt(text.length() - 1, '\n');
    });
    text.append('\n').append(String.join(";", headers.keySet())).append('\n');
  }

  /** Appends {@code value} trimmed, its runs of white space made one space, a word at a time. */
  private static void appendTrimmed(StringBuilder text, String value) {
    int wordStart = -1;
    boolean firstWord = true;
    for (int i = 0; i <= value.length(); i++) {
      boolean space = i == value.length() || isWhiteSpace(value.charAt(i));
      if (space && wordStart >= 0) {
        text.append(value, wordStart, i);
        wordStart = -1;
      } else if (!space && wordStart < 0) {
        if (!firstWord) {
          text.append(' ');
        }
        firstWord = false;
        wordStart = i;
      }
    }
  }

  private static boolean isWhiteSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\u000b' || c == '\r' || c == '\f';
  }

  /** One thread's buffer, digest and MAC: none of them is thread-safe, and each costs to make. */
  private static final class Scratch {
    final StringBuilder text = new StringBuilder(1024);
    final MessageDigest sha256;
    final Mac mac;

    Scratch() {
      try {
        sha256 = MessageDigest.getInstance("SHA-256");
        mac = Mac.getInstance(HMAC_SHA256);
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("this JDK lacks SHA-256 or HmacSHA256", e);
      }
    }

    byte[] hmac(byte[] key, String data) {
      try {
        mac.init(new SecretKeySpec(key, HMAC_SHA256));
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("an HMAC key was refused", e);
      }
      return mac.doFinal(data.getBytes(UTF_8));
    }
  }
}
