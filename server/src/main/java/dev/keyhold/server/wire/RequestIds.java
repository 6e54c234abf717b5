package dev.keyhold.server.wire;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.AttachmentKey;
import io.undertow.util.HttpString;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Gives every response an {@code x-amzn-RequestId}, a fresh UUID, before anything else can answer
 * (errors included), and the handlers behind it its value for the audit log.
 */
public final class RequestIds implements HttpHandler {
  public static final HttpString HEADER = new HttpString("x-amzn-RequestId");
  private static final AttachmentKey<String> REQUEST_ID = AttachmentKey.create(String.class);

  private final HttpHandler next;

  public RequestIds(HttpHandler next) {
    this.next = next;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) throws Exception {
    String id = randomUuid().toString();
    exchange.putAttachment(REQUEST_ID, id);
    exchange.getResponseHeaders().put(HEADER, id);
    next.handleRequest(exchange);
  }

  /**
   * A version 4 UUID, as AWS's request ids are, from the thread's own generator: an id names a
   * request and guards nothing, and the JDK's UUID.randomUUID takes every request through one
   * shared SecureRandom.
   */
  private static UUID randomUuid() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    long high = (random.nextLong() & ~0xf000L) | 0x4000L; // version 4
    long low = (random.nextLong() & ~(0xc000L << 48)) | (0x8000L << 48); // IETF variant
    return new UUID(high, low);
  }

  /** The id of {@code exchange}'s request. */
  static String of(HttpServerExchange exchange) {
    return exchange.getAttachment(REQUEST_ID);
  }
}
