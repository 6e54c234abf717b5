package dev.keyhold.bench;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.URI;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A pre-signed request ({@link SignedRequest}) sent again and again over plain sockets, one kept-alive
 * connection per calling thread, from bytes built once: a call is one write and the reads of one
 * answer, about what a call costs wrk. It is the open loop's client, which runs in the server's JVM:
 * there an HTTP client's own CPU and garbage (the SDK's Apache pool costs more per call than the
 * server's HTTP layer) would be counted in the server's latency.
 *
 * <p>It reads the answers Keyhold gives, HTTP/1.1 with a {@code Content-Length}, and refuses any
 * other; a call throws unless the status is 2xx, so that a load generator ends its run on the first
 * refusal.
 */
final class SocketReplay implements Runnable, AutoCloseable {
  private static final byte[] END_OF_HEAD = "\r\n\r\n".getBytes(US_ASCII);
  private static final byte[] CONTENT_LENGTH = "\r\ncontent-length:".getBytes(US_ASCII);
  private static final int STATUS_AT = "HTTP/1.1 ".length();

  private final String host;
  private final int port;
  private final byte[] request;
  private final List<Connection> opened = new CopyOnWriteArrayList<>();
  private final ThreadLocal<Connection> connections = ThreadLocal.withInitial(this::connect);

  private SocketReplay(String host, int port, byte[] request) {
    this.host = host;
    this.port = port;
    this.request = request;
  }

  /** Replays {@code signed}, every header as signed, to the server it was sent to. */
  static SocketReplay of(SignedRequest signed) {
    URI uri = signed.request().getUri();
    String path = signed.request().encodedPath().isEmpty() ? "/" : signed.request().encodedPath();
    StringBuilder head = new StringBuilder(signed.request().method().name()).append(' ').append(path)
        .append(" HTTP/1.1\r\n");
    if (signed.request().firstMatchingHeader("Host").isEmpty()) {
      head.append("Host: ").append(uri.getAuthority()).append("\r\n");
    }
    signed.headersButLength().forEach((name, values) ->
        head.append(name).append(": ").append(String.join(",", values)).append("\r\n"));
    head.append("Content-Length: ").append(signed.body().length).append("\r\n\r\n");
    byte[] start = head.toString().getBytes(US_ASCII);
    byte[] request = Arrays.copyOf(start, start.length + signed.body().length);
    System.arraycopy(signed.body(), 0, request, start.length, signed.body().length);
    return new SocketReplay(uri.getHost(), uri.getPort(), request);
  }

  @Override
  public void run() {
    try {
      connections.get().call();
    } catch (IOException e) {
      throw new UncheckedIOException("a replayed request failed", e);
    }
  }

  private Connection connect() {
    try {
      Connection connection = new Connection(new Socket(host, port));
      opened.add(connection);
      return connection;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot connect to " + host + ":" + port, e);
    }
  }

  @Override
  public void close() {
    for (Connection connection : opened) {
      try {
        connection.socket.close();
      } catch (IOException e) {
        // closing: nothing left to measure
      }
    }
  }

  /** One thread's connection and the buffer it reads answers into. */
  private final class Connection {
    final Socket socket;
    final InputStream in;
    byte[] buffer = new byte[4096];

    Connection(Socket socket) throws IOException {
      socket.setTcpNoDelay(true);
      this.socket = socket;
      this.in = socket.getInputStream();
    }

    void call() throws IOException {
      socket.getOutputStream().write(request);
      int filled = 0;
      int headEnd;
      while ((headEnd = indexOf(END_OF_HEAD, 0, filled)) < 0) {
        filled = readMore(filled);
      }
      int bodyStart = headEnd + END_OF_HEAD.length;
      int end = bodyStart + contentLength(headEnd);
      if (end > buffer.length) {
        buffer = Arrays.copyOf(buffer, end);
      }
      while (filled < end) {
        filled = readMore(filled);
      }
      int status = Integer.parseInt(new String(buffer, STATUS_AT, 3, US_ASCII));
      if (filled != end || status < 200 || status > 299) {
        throw new IllegalStateException("a replayed request was answered " + status
            + (filled != end ? ", with more than its Content-Length" : ""));
      }
    }

    private int readMore(int filled) throws IOException {
      if (filled == buffer.length) {
        buffer = Arrays.copyOf(buffer, buffer.length * 2);
      }
      int read = in.read(buffer, filled, buffer.length - filled);
      if (read < 0) {
        throw new IOException("the server closed the connection mid-answer");
      }
      return filled + read;
    }

    private int contentLength(int headEnd) {
      int at = indexOf(CONTENT_LENGTH, 0, headEnd + 2);
      if (at < 0) {
        throw new IllegalStateException("an answer without Content-Length: "
            + new String(buffer, 0, headEnd, US_ASCII));
      }
      int length = 0;
      for (int i = at + CONTENT_LENGTH.length; buffer[i] != '\r'; i++) {
        if (buffer[i] != ' ') {
          length = length * 10 + (buffer[i] - '0');
        }
      }
      return length;
    }

    /** Where the lower-case {@code pattern} starts in {@code buffer[from, to)}, ignoring case; -1 if nowhere. */
    private int indexOf(byte[] pattern, int from, int to) {
      for (int i = from; i <= to - pattern.length; i++) {
        int j = 0;
        while (j < pattern.length && lowerCase(buffer[i + j]) == pattern[j]) {
          j++;
        }
        if (j == pattern.length) {
          return i;
        }
      }
      return -1;
    }
  }

  private static byte lowerCase(byte b) {
    return b >= 'A' && b <= 'Z' ? (byte) (b + ('a' - 'A')) : b;
  }
}
