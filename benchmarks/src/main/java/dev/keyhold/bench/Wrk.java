package dev.keyhold.bench;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.sun.management.OperatingSystemMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * <a href="https://github.com/wg/wrk">wrk</a> replaying one {@link SignedRequest} against a server in
 * this JVM: a closed loop of {@code connections} keep-alive HTTP/1.1 connections, each sending the
 * request again as soon as its answer is in. wrk is written in C and sends bytes it prepared once, so
 * it costs a small fraction of what the server spends on a request, where the AWS SDK costs as much
 * as a third of it on the same cores.
 *
 * <p>The server's CPU time per request is this JVM's CPU time over the run, divided by the requests
 * wrk completed: the caller of {@link #run} waits idle meanwhile, so what the process spends is the
 * server's (its request threads, and background work such as GC and the key store's reconciler).
 * Beside it, per request: wrk's own CPU time (this JVM's ended children's, read once wrk has been
 * waited for), and what the rest of the machine spent meanwhile ({@code /proc/stat}), other processes'.
 *
 * <p>Every answer that is not 2xx is counted by the script ({@code response()}, called per answer), as
 * is every socket error: a run with either is refused, not reported, since a refusal is cheaper to
 * serve than an answer and would flatter the figures.
 */
final class Wrk {
  private static final OperatingSystemMXBean PROCESS =
      (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
  private static final Pattern REQUESTS = Pattern.compile("(\\d+) requests in ([\\d.]+)(us|ms|s|m)\\b");
  /** wrk's rate, from the exact time where the "requests in" line rounds it to 3 digits. */
  private static final Pattern RATE = Pattern.compile("^Requests/sec:\\s+([\\d.]+)$", Pattern.MULTILINE);
  private static final Pattern NON_2XX = Pattern.compile("^keyhold-non-2xx: (\\d+)$", Pattern.MULTILINE);
  private static final Pattern SOCKET_ERRORS =
      Pattern.compile("Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)");
  /** The script's own part: counts the answers that are not 2xx in every thread, and prints their sum. */
  private static final String COUNT_NON_2XX = String.join("\n",
      "local threads = {}",
      "function setup(thread) table.insert(threads, thread) end",
      "function init(args) non2xx = 0 end",
      "function response(status, headers, body)",
      "  if status < 200 or status > 299 then non2xx = non2xx + 1 end",
      "end",
      "function done(summary, latency, requests)",
      "  local count = 0",
      "  for _, thread in ipairs(threads) do count = count + thread:get(\"non2xx\") end",
      "  io.write(string.format(\"keyhold-non-2xx: %d\\n\", count))",
      "end",
      "");

  /**
   * One wrk run's figures; latencies in milliseconds.
   *
   * @param serverCpuMicrosPerRequest this JVM's CPU time per request: the server's
   * @param wrkCpuMicrosPerRequest wrk's CPU time per request: the client's
   * @param othersCpuMicrosPerRequest the rest of the machine's CPU time per request: other processes'
   * @param jitMillis this JVM's compilation time during the run, which its CPU time includes
   */
  record Result(int threads, int connections, long requests, double seconds, double perSecond, double p50Millis,
      double p99Millis, double serverCpuMicrosPerRequest, double wrkCpuMicrosPerRequest,
      double othersCpuMicrosPerRequest, long jitMillis) {}

  private final Path script;
  private final URI endpoint;

  private Wrk(Path script, URI endpoint) {
    this.script = script;
    this.endpoint = endpoint;
  }

  /** wrk for {@code request}, with its Lua script written to {@code directory}. */
  static Wrk replaying(SignedRequest request, Path directory) throws IOException {
    Path script = directory.resolve("replay.lua");
    Files.writeString(script, luaScript(request), UTF_8);
    URI uri = request.request().getUri();
    return new Wrk(script, URI.create(uri.getScheme() + "://" + uri.getAuthority() + "/"));
  }

  /** Sets wrk's request to {@code request}, every header as signed but Content-Length, which wrk adds. */
  static String luaScript(SignedRequest request) {
    StringBuilder lua = new StringBuilder("-- One SigV4-signed request, replayed as it is (valid for 5 minutes).\n")
        .append("wrk.method = ").append(luaString(request.request().method().name())).append('\n')
        .append("wrk.path = ").append(luaString(request.request().encodedPath().isEmpty() ? "/"
            : request.request().encodedPath())).append('\n')
        .append("wrk.body = ").append(luaString(new String(request.body(), UTF_8))).append('\n');
    request.headersButLength().forEach((name, values) -> lua.append("wrk.headers[").append(luaString(name))
        .append("] = ").append(luaString(String.join(",", values))).append('\n'));
    return lua.append(COUNT_NON_2XX).toString();
  }

  /**
   * Runs wrk with {@code connections} connections (on up to 2 threads, as many as this machine's
   * cores a client may take) for {@code length} in whole seconds, at least one (wrk takes no fraction),
   * and reads its figures.
   *
   * @throws IllegalStateException if wrk is missing or fails, or any answer was not 2xx, or any
   *     socket failed
   */
  Result run(int connections, Duration length) throws IOException, InterruptedException {
    int threads = Math.min(2, connections);
    List<String> command = new ArrayList<>(List.of("wrk", "-t" + threads, "-c" + connections,
        "-d" + Math.max(1, length.toSeconds()) + "s", "--latency", "-s", script.toString(), endpoint.toString()));
    long serverCpuBefore = PROCESS.getProcessCpuTime();
    long wrkCpuBefore = LoadGenerator.endedChildrenCpuNanos();
    long machineBusyBefore = LoadGenerator.machineBusyNanos();
    long jitMillisBefore = LoadGenerator.compilationMillis();
    Process wrk;
    try {
      wrk = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot run wrk: install it (apt-get install wrk; benchmarks/run-http does)", e);
    }
    String output = new String(wrk.getInputStream().readAllBytes(), UTF_8);
    if (!wrk.waitFor(length.toSeconds() + 60, TimeUnit.SECONDS) || wrk.exitValue() != 0) {
      wrk.destroyForcibly();
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + output);
    }
    long serverCpu = PROCESS.getProcessCpuTime() - serverCpuBefore;
    long wrkCpu = LoadGenerator.endedChildrenCpuNanos() - wrkCpuBefore;
    long othersCpu = LoadGenerator.machineBusyNanos() - machineBusyBefore - serverCpu - wrkCpu;
    return parse(output, threads, connections, serverCpu, wrkCpu, othersCpu,
        LoadGenerator.compilationMillis() - jitMillisBefore);
  }

  private static Result parse(String output, int threads, int connections, long serverCpuNanos, long wrkCpuNanos,
      long othersCpuNanos, long jitMillis) {
    long non2xx = Long.parseLong(find(NON_2XX, output, "the script's count of answers not 2xx").group(1));
    Matcher sockets = SOCKET_ERRORS.matcher(output);
    boolean socketErrors = sockets.find(); // wrk prints the line only when there are some
    if (non2xx > 0 || socketErrors) {
      throw new IllegalStateException("wrk saw " + non2xx + " answers that were not 2xx"
          + (socketErrors ? " and " + sockets.group() : "") + ":\n" + output);
    }
    Matcher requests = find(REQUESTS, output, "the number of requests");
    long count = Long.parseLong(requests.group(1));
    if (count == 0) {
      throw new IllegalStateException("wrk completed no request:\n" + output);
    }
    double seconds = millis(requests.group(2), requests.group(3)) / 1e3;
    double perSecond = Double.parseDouble(find(RATE, output, "rate").group(1));
    return new Result(threads, connections, count, seconds, perSecond, percentile(output, "50"),
        percentile(output, "99"), serverCpuNanos / 1e3 / count, wrkCpuNanos / 1e3 / count,
        Math.max(0, othersCpuNanos) / 1e3 / count, jitMillis);
  }

  /** A line of wrk's {@code --latency} distribution, e.g. {@code 99%    4.10ms}, in milliseconds. */
  private static double percentile(String output, String percent) {
    Matcher line = find(Pattern.compile("^\\s+" + percent + "%\\s+([\\d.]+)(us|ms|s|m)$", Pattern.MULTILINE), output,
        "the " + percent + "th percentile");
    return millis(line.group(1), line.group(2));
  }

  private static double millis(String value, String unit) {
    double number = Double.parseDouble(value);
    return switch (unit) {
      case "us" -> number / 1e3;
      case "ms" -> number;
      case "s" -> number * 1e3;
      case "m" -> number * 60e3;
      default -> throw new IllegalArgumentException("no time unit " + unit);
    };
  }

  private static Matcher find(Pattern pattern, String output, String what) {
    Matcher matcher = pattern.matcher(output);
    if (!matcher.find()) {
      throw new IllegalStateException("wrk's output has no " + what + ":\n" + output);
    }
    return matcher;
  }

  /** {@code text} as a Lua string literal: quotes and backslashes escaped, other bytes outside ASCII as {@code \ddd}. */
  static String luaString(String text) {
    StringBuilder literal = new StringBuilder("\"");
    for (byte b : text.getBytes(UTF_8)) {
      int c = b & 0xff;
      if (c == '"' || c == '\\') {
        literal.append('\\').append((char) c);
      } else if (c < 0x20 || c > 0x7e) {
        literal.append(String.format(Locale.ROOT, "\\%03d", c));
      } else {
        literal.append((char) c);
      }
    }
    return literal.append('"').toString();
  }
}
