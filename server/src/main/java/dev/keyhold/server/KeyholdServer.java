package dev.keyhold.server;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.google.common.base.Ticker;
import com.google.common.collect.ImmutableList;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.server.auth.RequestAuthenticator;
import dev.keyhold.server.ops.HealthReport;
import dev.keyhold.server.ops.RequestObserver;
import dev.keyhold.server.ops.ServiceMetrics;
import dev.keyhold.server.quota.QuotaConfig;
import dev.keyhold.server.quota.RequestQuotas;
import dev.keyhold.server.wire.KmsWireHandler;
import dev.keyhold.server.wire.RequestIds;
import io.undertow.Handlers;
import io.undertow.Undertow;
import io.undertow.UndertowOptions;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.handlers.BlockingHandler;
import io.undertow.server.handlers.GracefulShutdownHandler;
import io.undertow.server.handlers.HttpContinueReadHandler;
import io.undertow.server.handlers.ResponseCodeHandler;
import io.undertow.util.Headers;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xnio.Options;

/**
 * Keyhold's HTTP service: the AWS KMS API on {@code POST /} ({@link KmsWireHandler}), the cluster
 * health on {@code GET /health} ({@link HealthReport}) and Prometheus metrics on {@code GET /metrics}
 * ({@link ServiceMetrics}), over HTTP or TLS. Every response carries an {@code x-amzn-RequestId}.
 *
 * <pre>{@code
 * KeyholdServer server = KeyholdServer.builder(keyhold, new SigV4Authenticator(...))
 *     .host("127.0.0.1").port(8443)
 *     .tls(ServerTls.selfSigned(List.of("localhost", "127.0.0.1")))
 *     .observer(auditLog)
 *     .start();
 * ...
 * server.close(); // answers new requests 503, lets those under way finish, then stops
 * }</pre>
 *
 * <p>{@code /health} and {@code /metrics} need no signature (monitors do not sign), and say only
 * which key stores, clusters and HSMs are up and how busy the service is: bind to an address only
 * trusted callers reach, as the default {@code 127.0.0.1} is.
 *
 * <p>Overload: requests over a quota ({@link QuotaConfig}, none unless {@link Builder#quotas} sets
 * them) are answered {@code ThrottlingException}; at most {@link Builder#maxConnections} connections
 * are open at once, and the kernel queues further ones in the listen backlog until one closes; a
 * client that sends its headers too slowly, stalls a transfer, or sits idle between requests is
 * disconnected ({@link Builder#requestHeaderTimeout}, {@link Builder#transferTimeout},
 * {@link Builder#idleTimeout}), so that slow clients cannot hold the server's connections.
 *
 * <p>The server closes neither the Keyhold nor the observers: whoever built them does, after
 * {@link #close()}.
 */
public final class KeyholdServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KeyholdServer.class);
  /**
   * Undertow reads and discards a body over the limit up to this many times the limit, so that the
   * connection stays usable for the next request; a longer one closes the connection.
   */
  private static final int DRAIN_FACTOR = 16;

  private final Undertow undertow;
  private final GracefulShutdownHandler requests;
  private final Duration shutdownTimeout;
  private final URI uri;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final KmsWireHandler kms;

  private KeyholdServer(Builder builder) {
    ServiceMetrics metrics = ServiceMetrics.create(builder.keyhold);
    kms = new KmsWireHandler(builder.keyhold, builder.authenticator,
        ImmutableList.<RequestObserver>builder().add(metrics).addAll(builder.observers).build(),
        builder.maxRequestBytes, RequestQuotas.of(builder.quotas, Ticker.systemTicker()));
    requests = new GracefulShutdownHandler(Handlers.routing()
        .post("/", new HttpContinueReadHandler(kms))
        .get("/health", new BlockingHandler(exchange -> health(exchange, builder.keyhold)))
        .get("/metrics", new BlockingHandler(exchange -> metrics(exchange, metrics)))
        .setFallbackHandler(ResponseCodeHandler.HANDLE_404));
    Undertow.Builder server = Undertow.builder()
        .setServerOption(UndertowOptions.MAX_ENTITY_SIZE, (long) builder.maxRequestBytes * DRAIN_FACTOR)
        .setServerOption(UndertowOptions.REQUEST_PARSE_TIMEOUT, millis(builder.requestHeaderTimeout))
        .setServerOption(UndertowOptions.NO_REQUEST_TIMEOUT, millis(builder.idleTimeout))
        .setSocketOption(Options.READ_TIMEOUT, millis(builder.transferTimeout))
        .setSocketOption(Options.WRITE_TIMEOUT, millis(builder.transferTimeout))
        // XNIO stops accepting at the high water mark and accepts again below the low one; the
        // connections beyond wait in the kernel's listen backlog.
        .setSocketOption(Options.CONNECTION_HIGH_WATER, builder.maxConnections)
        .setSocketOption(Options.CONNECTION_LOW_WATER, builder.maxConnections)
        .setHandler(new RequestIds(requests));
    if (builder.tls.isPresent()) {
      server.addHttpsListener(builder.port, builder.host, builder.tls.get().sslContext());
    } else {
      server.addHttpListener(builder.port, builder.host);
    }
    undertow = server.build();
    shutdownTimeout = builder.shutdownTimeout;
    undertow.start();
    InetSocketAddress bound = (InetSocketAddress) undertow.getListenerInfo().get(0).getAddress();
    try {
      uri = new URI(builder.tls.isPresent() ? "https" : "http", null, builder.host, bound.getPort(), "/", null, null);
    } catch (URISyntaxException e) {
      undertow.stop();
      throw new IllegalArgumentException("not a host name or address: " + builder.host, e);
    }
    LOG.info("serving the AWS KMS API on {}", uri);
  }

  /**
   * A server for {@code keyhold}, whose callers {@code authenticator} identifies; the Keyhold's key
   * policies decide what each may do.
   */
  public static Builder builder(Keyhold keyhold, RequestAuthenticator authenticator) {
    return new Builder(keyhold, authenticator);
  }

  /** Where the server listens, e.g. {@code http://127.0.0.1:41234/}: the endpoint for AWS clients. */
  public URI uri() {
    return uri;
  }

  /**
   * Answers new requests 503 (clients retry elsewhere), waits up to the shutdown timeout for the
   * requests under way to finish, their observers included, then closes every connection and stops.
   * Closing a closed server does nothing.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    // Not ListenerInfo.suspend(): it closes every connection, those of requests under way too.
    requests.shutdown();
    try {
      if (!requests.awaitShutdown(shutdownTimeout.toMillis())) {
        LOG.warn("requests still running after {}: stopping anyway", shutdownTimeout);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      undertow.stop();
      try {
        kms.close();
      } catch (Exception e) {
        LOG.warn("stopping the rescue of stuck requests: {}", e.toString());
      }
    }
    LOG.info("stopped serving on {}", uri);
  }

  private static int millis(Duration timeout) {
    return Math.toIntExact(timeout.toMillis());
  }

  private static void health(HttpServerExchange exchange, Keyhold keyhold) {
    HealthReport report = HealthReport.of(keyhold.nodeName(), keyhold.roles(), keyhold.replication().health());
    exchange.setStatusCode(report.httpStatus());
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
    exchange.getResponseSender().send(report.toJson());
  }

  private static void metrics(HttpServerExchange exchange, ServiceMetrics metrics) throws IOException {
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, ServiceMetrics.CONTENT_TYPE);
    metrics.writeTo(exchange.getOutputStream());
  }

  /** How to serve; {@link #start()} serves. */
  public static final class Builder {
    private final Keyhold keyhold;
    private final RequestAuthenticator authenticator;
    private final List<RequestObserver> observers = new ArrayList<>();
    private String host = "127.0.0.1";
    private int port = 0;
    private Optional<ServerTls> tls = Optional.empty();
    private int maxRequestBytes = 1 << 20;
    private Duration shutdownTimeout = Duration.ofSeconds(30);
    private QuotaConfig quotas = QuotaConfig.unlimited();
    private int maxConnections = 1024;
    private Duration requestHeaderTimeout = Duration.ofSeconds(10);
    private Duration transferTimeout = Duration.ofSeconds(30);
    private Duration idleTimeout = Duration.ofSeconds(60);

    private Builder(Keyhold keyhold, RequestAuthenticator authenticator) {
      this.keyhold = checkNotNull(keyhold, "keyhold");
      this.authenticator = checkNotNull(authenticator, "authenticator");
    }

    /** The address to listen on: a host name or IP address; {@code 127.0.0.1} unless set. */
    public Builder host(String host) {
      checkArgument(!host.isEmpty(), "no host to listen on");
      this.host = host;
      return this;
    }

    /** The port; 0 (the default) takes any free one, which {@link KeyholdServer#uri()} then tells. */
    public Builder port(int port) {
      checkArgument(port >= 0 && port <= 65535, "not a port: %s", port);
      this.port = port;
      return this;
    }

    /** Serves HTTPS with {@code tls}; without it, plain HTTP. */
    public Builder tls(ServerTls tls) {
      this.tls = Optional.of(tls);
      return this;
    }

    /** The largest request body served (default 1 MiB); a larger one is answered 413 ValidationException. */
    public Builder maxRequestBytes(int maxRequestBytes) {
      checkArgument(maxRequestBytes > 0 && maxRequestBytes <= Integer.MAX_VALUE / DRAIN_FACTOR,
          "maxRequestBytes out of range: %s", maxRequestBytes);
      this.maxRequestBytes = maxRequestBytes;
      return this;
    }

    /** How long {@link KeyholdServer#close()} waits for requests under way (default 30 s). */
    public Builder shutdownTimeout(Duration shutdownTimeout) {
      checkArgument(!shutdownTimeout.isNegative(), "a negative timeout: %s", shutdownTimeout);
      this.shutdownTimeout = shutdownTimeout;
      return this;
    }

    /**
     * The request quotas this server enforces, per node (each server keeps its own buckets); none
     * unless set. {@link QuotaConfig#aws()} is AWS's.
     */
    public Builder quotas(QuotaConfig quotas) {
      this.quotas = checkNotNull(quotas, "quotas");
      return this;
    }

    /**
     * How many connections are open at once (default 1,024). Further clients are not refused: their
     * connections wait in the kernel's listen backlog, unanswered, until one of the open ones closes.
     */
    public Builder maxConnections(int maxConnections) {
      checkArgument(maxConnections > 0, "maxConnections must be positive: %s", maxConnections);
      this.maxConnections = maxConnections;
      return this;
    }

    /**
     * How long a client may take to send a request's line and headers, from its first byte
     * (default 10 s); then the connection closes. Stops clients that trickle headers.
     */
    public Builder requestHeaderTimeout(Duration timeout) {
      this.requestHeaderTimeout = checkTimeout(timeout);
      return this;
    }

    /**
     * How long a read or write may wait for the client to send or take a byte while a request is
     * read or its answer written (default 30 s); then the connection closes.
     */
    public Builder transferTimeout(Duration timeout) {
      this.transferTimeout = checkTimeout(timeout);
      return this;
    }

    /** How long a connection may sit between requests before it is closed (default 60 s). */
    public Builder idleTimeout(Duration timeout) {
      this.idleTimeout = checkTimeout(timeout);
      return this;
    }

    private static Duration checkTimeout(Duration timeout) {
      checkArgument(timeout.toMillis() > 0 && timeout.toMillis() <= Integer.MAX_VALUE,
          "a timeout must be 1 ms to 24 days: %s", timeout);
      return timeout;
    }

    /**
     * Tells {@code observer} of every answered KMS request, e.g. the audit log; the server's own
     * metrics are told without being added.
     */
    public Builder observer(RequestObserver observer) {
      observers.add(checkNotNull(observer, "observer"));
      return this;
    }

    /** Starts serving. */
    public KeyholdServer start() {
      return new KeyholdServer(this);
    }
  }
}
