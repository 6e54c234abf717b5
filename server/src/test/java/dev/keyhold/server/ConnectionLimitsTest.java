package dev.keyhold.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keyhold.softhsm.SoftHsmClusterExtension;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Slow and numerous clients cannot hold the server: a client that trickles its headers is cut off,
 * and connections beyond the limit wait, unanswered, until an open one closes.
 */
class ConnectionLimitsTest {
  @RegisterExtension static final SoftHsmClusterExtension softhsm = SoftHsmClusterExtension.withHsms(1);
  private static final byte[] HEALTH = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(US_ASCII);

  @TempDir static Path data;
  private static TestKeyhold keyhold;

  @BeforeAll
  static void start() throws Exception {
    keyhold = TestKeyhold.start(softhsm, data, 0);
  }

  @AfterAll
  static void stop() {
    keyhold.close();
  }

  @Test
  void aClientThatTricklesItsHeadersIsCutOff() throws Exception {
    try (KeyholdServer server = keyhold.serve(builder -> builder.requestHeaderTimeout(Duration.ofMillis(500)));
        Socket slow = connect(server)) {
      OutputStream out = slow.getOutputStream();
      byte[] headers = "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".getBytes(US_ASCII);
      // A byte every 100 ms for up to 10 s, far past the timeout: the server must close before.
      assertThatThrownBy(() -> {
        for (int i = 0; i < 100; i++) {
          out.write(i < headers.length ? headers[i] : 'a');
          out.flush();
          Thread.sleep(100);
        }
      }).isInstanceOf(IOException.class);

      try (Socket prompt = connect(server)) {
        assertThat(answer(prompt)).startsWith("HTTP/1.1 200");
      }
    }
  }

  @Test
  void connectionsBeyondTheLimitWaitUntilOneCloses() throws Exception {
    try (KeyholdServer server = keyhold.serve(builder -> builder.maxConnections(2));
        Socket second = connect(server)) {
      // Closed by the test to free a place; the server's close closes it if the test fails first.
      Socket first = connect(server);
      assertThat(answer(second)).startsWith("HTTP/1.1 200");
      assertThat(answer(first)).startsWith("HTTP/1.1 200");

      try (Socket third = connect(server)) {
        third.setSoTimeout(1_000);
        assertThatThrownBy(() -> answer(third)).isInstanceOf(SocketTimeoutException.class);

        first.close();
        third.setSoTimeout(10_000);
        assertThat(readAnswer(third)).startsWith("HTTP/1.1 200");
      }
    }
  }

  private static Socket connect(KeyholdServer server) throws IOException {
    Socket socket = new Socket(server.uri().getHost(), server.uri().getPort());
    socket.setSoTimeout(10_000);
    return socket;
  }

  /** Sends GET /health on {@code socket} and reads the start of the answer. */
  private static String answer(Socket socket) throws IOException {
    socket.getOutputStream().write(HEALTH);
    socket.getOutputStream().flush();
    return readAnswer(socket);
  }

  private static String readAnswer(Socket socket) throws IOException {
    InputStream in = socket.getInputStream();
    byte[] start = new byte[12];
    int read = 0;
    while (read < start.length) {
      int n = in.read(start, read, start.length - read);
      if (n < 0) {
        throw new IOException("closed after " + read + " bytes");
      }
      read += n;
    }
    return new String(start, US_ASCII);
  }
}
