package dev.keyhold.server.wire;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.AttachmentKey;
import io.undertow.util.HttpString;
import java.util.UUID;

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
    String id = UUID.randomUUID().toString();
    exchange.putAttachment(REQUEST_ID, id);
    exchange.getResponseHeaders().put(HEADER, id);
    next.handleRequest(exchange);
  }

  /** The id of {@code exchange}'s request. */
  static String of(HttpServerExchange exchange) {
    return exchange.getAttachment(REQUEST_ID);
  }
}
