package dev.keyhold.server.wire;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;
import static dev.keyhold.kms.error.KmsErrorType.DependencyTimeoutException;
import static dev.keyhold.kms.error.KmsErrorType.DryRunOperationException;
import static dev.keyhold.kms.error.KmsErrorType.KMSInternalException;
import static dev.keyhold.kms.error.KmsErrorType.ValidationException;
import static dev.keyhold.server.WireException.Type.UnknownOperationException;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableListMultimap;
import com.google.common.collect.ImmutableMap;
import dev.keyhold.kms.Keyhold;
import dev.keyhold.kms.error.KmsException;
import dev.keyhold.kms.metadata.MetadataException;
import dev.keyhold.server.WireException;
import dev.keyhold.server.auth.Caller;
import dev.keyhold.server.auth.HttpRequestView;
import dev.keyhold.server.auth.RequestAuthenticator;
import dev.keyhold.server.authz.KmsOperation;
import dev.keyhold.server.ops.RequestObserver;
import dev.keyhold.server.ops.RequestOutcome;
import dev.keyhold.server.quota.RequestQuotas;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RequestTooBigException;
import io.undertow.util.HeaderValues;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.StatusCodes;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The AWS KMS JSON protocol (awsJson1_1) on {@code POST /}: {@code X-Amz-Target:
 * TrentService.<Operation>}, a JSON body of Content-Type {@code application/x-amz-json-1.1}, and the
 * answer in the same type, or an error {@code {"__type": "...", "message": "..."}}: HTTP 400 for a
 * fault of the request, as AWS answers whatever its model says, 500 for a fault of the service and
 * 503 for a timeout.
 *
 * <p>Each request is read (at most {@code maxRequestBytes}), authenticated, admitted by the quotas
 * ({@link RequestQuotas}: the caller's, the operation's, and for a cryptographic operation its key
 * store's once its key is allowed), authorized (custom key store
 * operations for administrators, key operations by each key's policy), run against kms-core, told to
 * every {@link RequestObserver}, and answered. An exception that is not a {@link KmsException} is a
 * fault of the service: it is logged with its request id, and the caller gets a KMSInternalException
 * that says nothing more.
 *
 * <p>A request whose worker thread an HSM keeps past the call deadline ({@link StuckRequests}) is
 * answered by another thread: a cryptographic operation is run again there, on another HSM (the
 * hung one fails at once now); any other operation, which may have changed something, is answered
 * DependencyTimeoutException, and what its stuck call leaves is for the crash recovery to settle.
 *
 * <p>Run it on an I/O thread: it reads the body there and answers on a worker thread.
 */
public final class KmsWireHandler implements HttpHandler, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KmsWireHandler.class);
  static final String CONTENT_TYPE = "application/x-amz-json-1.1";
  private static final HttpString TARGET = new HttpString("X-Amz-Target");
  private static final String TARGET_PREFIX = "TrentService.";
  /** The operation the audit log and the metrics name when the target names none served. */
  private static final String UNKNOWN = "unknown";

  private final Keyhold keyhold;
  private final RequestAuthenticator authenticator;
  private final ImmutableList<RequestObserver> observers;
  private final int maxRequestBytes;
  private final RequestQuotas quotas;
  private final WireJson json;
  private final ImmutableMap<KmsOperation, WireOperation<?>> operations = Operations.all();
  private final StuckRequests stuck = new StuckRequests();

  /**
   * @param maxRequestBytes the largest body served; a larger one is answered 413, after being read
   *     (and discarded) so that the connection stays usable
   */
  public KmsWireHandler(Keyhold keyhold, RequestAuthenticator authenticator, List<RequestObserver> observers,
      int maxRequestBytes, RequestQuotas quotas) {
    checkArgument(maxRequestBytes > 0, "maxRequestBytes must be positive: %s", maxRequestBytes);
    this.keyhold = checkNotNull(keyhold, "keyhold");
    this.authenticator = checkNotNull(authenticator, "authenticator");
    this.observers = ImmutableList.copyOf(observers);
    this.maxRequestBytes = maxRequestBytes;
    this.quotas = checkNotNull(quotas, "quotas");
    this.json = new WireJson(keyhold.grants()::checkGrantTokens);
  }

  /**
   * Reads the body on the I/O thread as it arrives, without blocking, then answers on a worker thread
   * (the HSM call blocks). A worker that read the body itself, through Undertow's blocking stream, cost
   * the I/O thread a busy loop of read events for as long as the request ran.
   */
  @Override
  public void handleRequest(HttpServerExchange exchange) {
    Body body = new Body(maxRequestBytes);
    exchange.getRequestReceiver().receivePartialBytes(
        (ex, chunk, last) -> {
          body.append(chunk);
          if (last) {
            ex.dispatch(() -> answer(ex, body, Instant.now(), System.nanoTime()));
          }
        },
        (ex, e) -> {
          if (e instanceof RequestTooBigException) {
            // Longer than Undertow drains: answered, then the connection closes.
            ex.setPersistent(false);
            body.refuse();
            ex.dispatch(() -> answer(ex, body, Instant.now(), System.nanoTime()));
          } else {
            LOG.debug("request {}: the client went away while sending", RequestIds.of(ex), e);
            ex.setPersistent(false);
            ex.endExchange();
          }
        });
  }

  /** Answers the request received at {@code received} ({@code start} on the nano clock). */
  private void answer(HttpServerExchange exchange, Body body, Instant received, long start) {
    Trace trace = new Trace();
    StuckRequests.Running running = stuck.enter(() -> rescue(exchange, body, received, start, trace));
    Reply reply;
    try {
      reply = new Reply(StatusCodes.OK, serve(exchange, body, trace), Optional.empty());
    } catch (KmsException e) {
      reply = error(statusOf(e), e.type().name(), e.getMessage());
    } catch (WireException e) {
      reply = error(StatusCodes.BAD_REQUEST, e.type().name(), e.getMessage());
    } catch (MetadataException e) {
      reply = metadataFailure(exchange, trace, e);
    } catch (BodyTooLargeException e) {
      reply = error(StatusCodes.REQUEST_ENTITY_TOO_LARGE, ValidationException.name(),
          "The request body is larger than " + maxRequestBytes + " bytes.");
    } catch (RuntimeException e) {
      LOG.error("request {} ({}) failed", RequestIds.of(exchange), trace.operation, e);
      reply = error(StatusCodes.INTERNAL_SERVER_ERROR, KMSInternalException.name(),
          "An internal error occurred. Retry the request.");
    }
    if (stuck.leave(running)) {
      finish(exchange, received, start, trace, reply);
    } // else its rescue answered it
  }

  /**
   * Answers, on this rescuing thread, the request whose thread is stuck in a hung HSM's call: runs a
   * cryptographic operation again, and answers any other DependencyTimeoutException.
   */
  private void rescue(HttpServerExchange exchange, Body body, Instant received, long start, Trace stuckTrace) {
    // The connection ends with this answer: Undertow reads a connection's next request only once the
    // thread it handed this one to returns, which a stuck thread may never do.
    exchange.setPersistent(false);
    Optional<KmsOperation> operation = KmsOperation.named(stuckTrace.operation);
    if (operation.isPresent() && KmsOperation.CRYPTOGRAPHIC.contains(operation.get())) {
      answer(exchange, body, received, start);
    } else {
      finish(exchange, received, start, stuckTrace, error(StatusCodes.SERVICE_UNAVAILABLE,
          DependencyTimeoutException.name(), "The system timed out while trying to fulfill the request. "
              + "You can retry the request."));
    }
  }

  private void finish(HttpServerExchange exchange, Instant received, long start, Trace trace, Reply reply) {
    // Observers first: no request is answered unaudited, and a graceful shutdown, which waits for
    // answers, waits for the audit too.
    RequestOutcome outcome = new RequestOutcome(received, RequestIds.of(exchange), trace.principalArn,
        trace.operation, trace.keys.flatMap(KeyAccess::keyArn), trace.keys.flatMap(KeyAccess::sourceKeyArn),
        trace.keys.map(keys -> List.copyOf(keys.encryptionContextKeys())).orElse(List.of()), reply.status,
        reply.errorType, System.nanoTime() - start);
    try {
      observers.forEach(observer -> observer.completed(outcome));
    } finally {
      // Answered from the connection's I/O thread, so that Undertow ends the exchange there. Ended
      // from a worker, it hands the connection back to the I/O thread through a state that the I/O
      // thread spins on when the client's next request arrives meanwhile, which on few cores costs
      // whole scheduler slices.
      Reply answer = reply;
      exchange.getIoThread().execute(() -> send(exchange, answer));
    }
  }

  /**
   * What the request asked for and who asked, as far as it got; for the audit log, and for its rescue
   * (read by another thread while this one is stuck, hence volatile).
   */
  private static final class Trace {
    volatile String operation = UNKNOWN;
    volatile Optional<String> principalArn = Optional.empty();
    volatile Optional<KeyAccess> keys = Optional.empty();
  }

  /** Stops rescuing requests. */
  @Override
  public void close() throws Exception {
    stuck.close();
  }

  /** The answer's body, from reading the request to running it. */
  private byte[] serve(HttpServerExchange exchange, Body requestBody, Trace trace) {
    KmsOperation operation = operation(exchange);
    trace.operation = operation.name();
    checkContentType(exchange);
    byte[] body = requestBody.bytes();
    Caller caller = authenticator.authenticate(view(exchange, body));
    trace.principalArn = Optional.of(caller.principalArn());
    // After the signature: an unauthenticated caller spends nobody's quota.
    quotas.admit(operation, caller.accessKeyId());
    KeyAccess keys = new KeyAccess(
        operation, caller, keyhold.account(), keyhold.keys().resolver(), keyhold.authorizer(), quotas);
    trace.keys = Optional.of(keys);
    if (operation.authorization() != KmsOperation.Authorization.KEY_POLICY) {
      keys.allowWithoutKey();
    }
    return json.write(run(operations.get(operation), body, keys));
  }

  private <R> Object run(WireOperation<R> operation, byte[] body, KeyAccess keys) {
    R request = json.read(body, operation.requestType());
    Object response;
    try {
      response = operation.call().run(keyhold, keys, request);
    } catch (KmsException e) {
      if (e.type() == DryRunOperationException) {
        keys.checkAuthorized(); // "would have succeeded" must not be said of a request nobody authorized
      }
      throw e;
    }
    keys.checkAuthorized();
    return response;
  }

  /**
   * A metadata store that does not answer is a dependency's timeout: the caller may retry, and the
   * hot path, which reads no database, goes on serving. Any other failure of it is the service's own.
   */
  private Reply metadataFailure(HttpServerExchange exchange, Trace trace, MetadataException e) {
    if (e.unreachable()) {
      LOG.warn("request {} ({}): the metadata store did not answer: {}", RequestIds.of(exchange), trace.operation,
          e.getMessage());
      return error(StatusCodes.SERVICE_UNAVAILABLE, DependencyTimeoutException.name(),
          "The service's metadata store did not answer; nothing was changed. Retry the request.");
    }
    LOG.error("request {} ({}) failed", RequestIds.of(exchange), trace.operation, e);
    return error(StatusCodes.INTERNAL_SERVER_ERROR, KMSInternalException.name(),
        "An internal error occurred. Retry the request.");
  }

  /** AWS answers every fault of the request 400; only its own faults are 5xx. */
  private static int statusOf(KmsException e) {
    return switch (e.type()) {
      case KMSInternalException -> StatusCodes.INTERNAL_SERVER_ERROR;
      case DependencyTimeoutException -> StatusCodes.SERVICE_UNAVAILABLE;
      default -> StatusCodes.BAD_REQUEST;
    };
  }

  /**
   * A request's body as it arrives, kept up to the limit. A longer one is read to its end and dropped,
   * so that the connection can carry the next request (up to Undertow's own limit, which KeyholdServer
   * sets well above ours; beyond that the connection closes after the answer).
   */
  private static final class Body {
    private final int limit;
    /** The first chunk, which is the whole body of nearly every request: kept as it came, not copied. */
    private byte[] first;
    /** Every chunk, once a second one comes. */
    private ByteArrayOutputStream chunks;
    private int size;
    private boolean tooLarge;

    Body(int limit) {
      this.limit = limit;
    }

    void append(byte[] chunk) {
      if (tooLarge || size + chunk.length > limit) {
        refuse();
        return;
      }
      size += chunk.length;
      if (first == null && chunks == null) {
        first = chunk;
        return;
      }
      if (chunks == null) {
        chunks = new ByteArrayOutputStream();
        chunks.write(first, 0, first.length);
        first = null;
      }
      chunks.write(chunk, 0, chunk.length);
    }

    void refuse() {
      tooLarge = true;
      first = null;
      chunks = null;
    }

    /** The whole body; a BodyTooLargeException if it was longer than the limit. */
    byte[] bytes() {
      if (tooLarge) {
        throw new BodyTooLargeException();
      }
      return chunks != null ? chunks.toByteArray() : first != null ? first : new byte[0];
    }
  }

  /** A body over the limit, answered 413 ValidationException. */
  private static final class BodyTooLargeException extends RuntimeException {}

  private static KmsOperation operation(HttpServerExchange exchange) {
    String target = exchange.getRequestHeaders().getFirst(TARGET);
    if (target == null) {
      throw new WireException(UnknownOperationException, "The request has no X-Amz-Target header.");
    }
    return Optional.of(target).filter(t -> t.startsWith(TARGET_PREFIX))
        .flatMap(t -> KmsOperation.named(t.substring(TARGET_PREFIX.length())))
        .orElseThrow(() -> new WireException(UnknownOperationException, "Unknown operation " + target + "."));
  }

  /**
   * Only the JSON protocol's own type: AWS's front end picks the protocol, and so finds the operation,
   * by it; in any other type it finds none.
   */
  private static void checkContentType(HttpServerExchange exchange) {
    String type = exchange.getRequestHeaders().getFirst(Headers.CONTENT_TYPE);
    if (type == null || !type.split(";", 2)[0].trim().equalsIgnoreCase(CONTENT_TYPE)) {
      throw new WireException(UnknownOperationException,
          "Keyhold serves the AWS JSON 1.1 protocol: the Content-Type must be " + CONTENT_TYPE + ".");
    }
  }

  private static HttpRequestView view(HttpServerExchange exchange, byte[] body) {
    ImmutableListMultimap.Builder<String, String> headers = ImmutableListMultimap.builder();
    for (HeaderValues values : exchange.getRequestHeaders()) {
      headers.putAll(values.getHeaderName().toString().toLowerCase(Locale.ROOT), values);
    }
    return new HttpRequestView(exchange.getRequestMethod().toString(), exchange.getRequestURI(),
        exchange.getQueryString(), headers.build(), body);
  }

  private Reply error(int status, String type, String message) {
    return new Reply(status, json.write(new ErrorBody(type, message)), Optional.of(type));
  }

  /** An error as AWS's JSON protocols write it; {@code message} in lower case, as KMS's. */
  private record ErrorBody(@JsonProperty("__type") String type, @JsonProperty("message") String message) {}

  /** The answer: its status, its JSON body, and the error type if it is an error. */
  private record Reply(int status, byte[] body, Optional<String> errorType) {}

  private static void send(HttpServerExchange exchange, Reply reply) {
    exchange.setStatusCode(reply.status);
    exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, CONTENT_TYPE);
    exchange.getResponseSender().send(ByteBuffer.wrap(reply.body));
  }
}
