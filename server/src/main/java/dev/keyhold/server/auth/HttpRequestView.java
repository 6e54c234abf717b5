package dev.keyhold.server.auth;

import com.google.common.collect.ImmutableListMultimap;

/**
 * What an authenticator sees of an HTTP request: enough to recompute its SigV4 signature.
 *
 * @param headers by lower-case name, in the order received
 * @param rawQuery the query string as sent, without {@code ?}; empty if none
 */
public record HttpRequestView(
    String method, String path, String rawQuery, ImmutableListMultimap<String, String> headers, byte[] body) {}
