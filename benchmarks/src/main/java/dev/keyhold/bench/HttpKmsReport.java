package dev.keyhold.bench;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * What {@link HttpKmsBenchmark} found: a table on the console, and the same figures as
 * {@code PREFIX.csv} (one row per point of the SDK's runs), {@code PREFIX-server.csv} (the server
 * alone) and {@code PREFIX.json} (all of it, with the machine and settings).
 *
 * @param closedLoop per operation and thread count, HTTP beside in process, in the order run
 * @param openLoop per operation, at half the peak HTTP rate of {@code closedLoop}
 * @param server the server alone, under replayed requests, beside in process and raw C
 */
record HttpKmsReport(Machine machine, Settings settings, List<ClosedLoopPoint> closedLoop,
    List<OpenLoopPoint> openLoop, ServerPhase server) {
  private static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
  /** The CSV columns of one {@link Figures}, prefixed {@code http_} or {@code in_process_}. */
  private static final List<String> CSV_FIGURES = List.of("calls", "per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms",
      "cpu_us_per_call", "caller_cpu_us_per_call", "others_cpu_share", "jit_ms");

  /**
   * The machine, as it was before the run: the load average says how busy other work kept it.
   *
   * @param loadAverage the one-minute load average
   */
  record Machine(String time, int processors, double loadAverage, String java, String os) {
    static Machine now() {
      return new Machine(Instant.now().toString(), Runtime.getRuntime().availableProcessors(),
          ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
          System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"),
          System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
    }
  }

  /** How the run was made. */
  record Settings(double dryPassSeconds, double warmUpSeconds, double durationSeconds, List<Integer> threads,
      String client) {}

  /**
   * A run's figures; latencies in milliseconds.
   *
   * @param cpuMicrosPerCall the process's CPU time per call: callers, server, background work, GC, JIT
   * @param callerCpuMicrosPerCall the calling threads' part of it: over HTTP, the SDK client's work
   * @param othersCpuShare the share of the machine's CPU that other processes took during the run
   * @param jitMillis the JIT compilers' time during the run
   */
  record Figures(long calls, double perSecond, double p50Millis, double p99Millis, double p999Millis,
      double maxMillis, double cpuMicrosPerCall, double callerCpuMicrosPerCall, double othersCpuShare,
      long jitMillis) {
    static Figures of(LoadGenerator.Result result) {
      return new Figures(result.calls(), result.perSecond(), result.millisAt(50), result.millisAt(99),
          result.millisAt(99.9), result.maxMillis(), result.cpuMicrosPerCall(), result.callerCpuMicrosPerCall(),
          result.othersCpuShare(), result.jitMillis());
    }
  }

  /** One closed-loop point: {@code threads} callers over HTTP, then as many in process. */
  record ClosedLoopPoint(String operation, int threads, Figures http, Figures inProcess, double httpOverInProcess) {
    static ClosedLoopPoint of(String operation, int threads, LoadGenerator.Result http,
        LoadGenerator.Result inProcess) {
      return new ClosedLoopPoint(operation, threads, Figures.of(http), Figures.of(inProcess),
          http.perSecond() / inProcess.perSecond());
    }
  }

  /** The open-loop run of one operation over HTTP at {@code targetPerSecond}, from {@code threads} callers. */
  record OpenLoopPoint(String operation, int threads, double targetPerSecond, Figures http) {}

  /**
   * One operation as the server alone serves it, beside the same operation in process and the token's
   * own limit, all measured in the same run.
   *
   * @param wrk wrk replaying one pre-signed request, closed loop, per connection count
   * @param inProcess {@code KmsCrypto} with {@link #IN_PROCESS_THREADS} threads, measured just before
   * @param rawC the raw C program on a SoftHSM2 token of its own, with 1 and 2 threads
   * @param openLoop the same pre-signed request replayed at half wrk's best rate, evenly spaced, by the
   *     benchmark's open-loop generator on plain sockets from this JVM ({@link SocketReplay})
   * @param pairs in process and wrk with the most connections, back to back, after all the above
   */
  record ServerPhase(String operation, List<Wrk.Result> wrk, Figures inProcess, List<RawCPoint> rawC,
      OpenLoopPoint openLoop, List<Pair> pairs) {
    /** The in-process thread count the targets set the HTTP rate against. */
    static final int IN_PROCESS_THREADS = 2;

    /** The wrk point with the best rate. */
    Wrk.Result peak() {
      return wrk.stream().max(Comparator.comparingDouble(Wrk.Result::perSecond)).orElseThrow();
    }
  }

  /**
   * An in-process run with {@link ServerPhase#IN_PROCESS_THREADS} threads and a wrk run: the targets'
   * two ratios, of runs seconds apart in {@link ServerPhase#pairs}.
   */
  record Pair(Figures inProcess, Wrk.Result wrk) {
    /** wrk's rate over the in-process rate. */
    double rateRatio() {
      return wrk.perSecond() / inProcess.perSecond();
    }

    /** The server's CPU per request over the in-process CPU per call. */
    double cpuRatio() {
      return wrk.serverCpuMicrosPerRequest() / inProcess.cpuMicrosPerCall();
    }

    static double median(List<Pair> pairs, ToDoubleFunction<Pair> ratio) {
      double[] sorted = pairs.stream().mapToDouble(ratio).sorted().toArray();
      int middle = sorted.length / 2;
      return sorted.length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
  }

  /** The raw C program's figures at one thread count. */
  record RawCPoint(int threads, Figures figures) {}

  void print(PrintStream out) {
    out.printf(Locale.ROOT, "%nKeyhold's KMS API over HTTP (%s) against KmsCrypto in process%n", settings.client());
    out.printf(Locale.ROOT, "%d processors, load average %.2f before the run. Dry pass: %.1f s per run;"
            + " each measured run: warm-up %.1f s, then %.1f s.%nCPU us: the process's CPU time per call"
            + " (the client's part); JIT: compilation time in the run; others: the machine's CPU that other"
            + " processes took%n",
        machine.processors(), machine.loadAverage(), settings.dryPassSeconds(), settings.warmUpSeconds(),
        settings.durationSeconds());
    String operation = null;
    for (ClosedLoopPoint point : closedLoop) {
      if (!point.operation().equals(operation)) {
        operation = point.operation();
        out.printf(Locale.ROOT, "%n%s, closed loop%n%7s  %10s %7s %7s %8s %15s %6s %6s  %16s %7s %6s %6s %6s  %s%n",
            operation, "threads", "HTTP req/s", "p50 ms", "p99 ms", "p99.9 ms", "CPU us (client)", "JIT ms", "others",
            "in-process ops/s", "p50 ms", "CPU us", "JIT ms", "others", "HTTP / in process");
      }
      Figures http = point.http();
      Figures inProcess = point.inProcess();
      out.printf(Locale.ROOT,
          "%7d  %,10.0f %7.2f %7.2f %8.2f %7.0f (%5.0f) %6d %5.0f%%  %,16.0f %7.3f %6.0f %6d %5.0f%%  %16.1f%%%n",
          point.threads(), http.perSecond(), http.p50Millis(), http.p99Millis(), http.p999Millis(),
          http.cpuMicrosPerCall(), http.callerCpuMicrosPerCall(), http.jitMillis(), 100 * http.othersCpuShare(),
          inProcess.perSecond(), inProcess.p50Millis(), inProcess.cpuMicrosPerCall(), inProcess.jitMillis(),
          100 * inProcess.othersCpuShare(), 100 * point.httpOverInProcess());
    }
    out.println();
    for (OpenLoopPoint point : openLoop) {
      printOpenLoop(out, point, "open loop at half the peak HTTP rate");
    }
    printServer(out);
  }

  private void printServer(PrintStream out) {
    ServerPhase phase = server;
    Figures inProcess = phase.inProcess();
    out.printf(Locale.ROOT, "%n%s, the server alone: wrk replaying one pre-signed request, closed loop%n"
            + "%11s %7s  %10s %7s %7s  %18s %6s %15s %18s  %s%n", phase.operation(), "connections", "threads",
        "req/s", "p50 ms", "p99 ms", "server CPU us/req", "JIT ms", "wrk CPU us/req", "others CPU us/req",
        "of in process x" + ServerPhase.IN_PROCESS_THREADS);
    for (Wrk.Result point : phase.wrk()) {
      out.printf(Locale.ROOT, "%11d %7d  %,10.0f %7.2f %7.2f  %18.0f %6d %15.0f %18.0f  %5.1f%%%n",
          point.connections(), point.threads(), point.perSecond(), point.p50Millis(), point.p99Millis(),
          point.serverCpuMicrosPerRequest(), point.jitMillis(), point.wrkCpuMicrosPerRequest(),
          point.othersCpuMicrosPerRequest(), 100 * point.perSecond() / inProcess.perSecond());
    }
    out.printf(Locale.ROOT, "In process, %d threads: %,.0f ops/s, CPU %.0f us per op (others took %.0f%% of the CPU)%n",
        ServerPhase.IN_PROCESS_THREADS, inProcess.perSecond(), inProcess.cpuMicrosPerCall(),
        100 * inProcess.othersCpuShare());
    for (RawCPoint raw : phase.rawC()) {
      out.printf(Locale.ROOT, "Raw C (the token's limit), %d thread%s: %,.0f ops/s, CPU %.0f us per op,"
              + " p50 %.3f ms, p99 %.3f ms%n", raw.threads(), raw.threads() == 1 ? "" : "s",
          raw.figures().perSecond(), raw.figures().cpuMicrosPerCall(), raw.figures().p50Millis(),
          raw.figures().p99Millis());
    }
    Pair best = new Pair(inProcess, phase.peak());
    out.printf(Locale.ROOT, "At wrk's best (%d connections): %.1f%% of the in-process rate at %d threads; server CPU"
            + " per request %.2fx the in-process CPU per op%n", best.wrk().connections(), 100 * best.rateRatio(),
        ServerPhase.IN_PROCESS_THREADS, best.cpuRatio());
    printOpenLoop(out, phase.openLoop(), "pre-signed replay, open loop at half wrk's best rate");
    if (!phase.pairs().isEmpty()) {
      out.printf(Locale.ROOT, "In process (%d threads) and wrk (%d connections) back to back:%n%5s  %16s %12s  %10s %18s"
              + "  %12s %9s%n", ServerPhase.IN_PROCESS_THREADS, phase.pairs().get(0).wrk().connections(), "pair",
          "in-process ops/s", "CPU us/op", "wrk req/s", "server CPU us/req", "rate ratio", "CPU ratio");
      for (int i = 0; i < phase.pairs().size(); i++) {
        Pair pair = phase.pairs().get(i);
        out.printf(Locale.ROOT, "%5d  %,16.0f %12.0f  %,10.0f %18.0f  %11.1f%% %8.2fx%n", i + 1,
            pair.inProcess().perSecond(), pair.inProcess().cpuMicrosPerCall(), pair.wrk().perSecond(),
            pair.wrk().serverCpuMicrosPerRequest(), 100 * pair.rateRatio(), pair.cpuRatio());
      }
      out.printf(Locale.ROOT, "Median of the pairs: %.1f%% of the in-process rate; server CPU per request %.2fx the"
              + " in-process CPU per op%n", 100 * Pair.median(phase.pairs(), Pair::rateRatio),
          Pair.median(phase.pairs(), Pair::cpuRatio));
    }
  }

  private static void printOpenLoop(PrintStream out, OpenLoopPoint point, String schedule) {
    Figures http = point.http();
    out.printf(Locale.ROOT, "%s, %s (%d threads): %,.0f req/s asked, %,.0f served;"
            + " p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; JIT %d ms, others took %.0f%% of the CPU%n",
        point.operation(), schedule, point.threads(), point.targetPerSecond(), http.perSecond(), http.p50Millis(),
        http.p99Millis(), http.p999Millis(), http.maxMillis(), http.jitMillis(), 100 * http.othersCpuShare());
  }

  /** Writes {@code prefix.csv}, {@code prefix-server.csv} and {@code prefix.json}, creating the directory if need be. */
  void write(Path prefix) throws IOException {
    Path csv = prefix.resolveSibling(prefix.getFileName() + ".csv");
    Path json = prefix.resolveSibling(prefix.getFileName() + ".json");
    Files.createDirectories(csv.toAbsolutePath().getParent());
    try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(csv, StandardCharsets.UTF_8))) {
      out.println("operation,schedule,threads,target_per_s,http_over_in_process," + csvHeader("http") + ","
          + csvHeader("in_process"));
      for (ClosedLoopPoint point : closedLoop) {
        out.printf(Locale.ROOT, "%s,closed,%d,,%.4f,%s,%s%n", point.operation(), point.threads(),
            point.httpOverInProcess(), csvCells(point.http()), csvCells(point.inProcess()));
      }
      for (OpenLoopPoint point : openLoop) {
        out.printf(Locale.ROOT, "%s,open,%d,%.1f,,%s,%s%n", point.operation(), point.threads(),
            point.targetPerSecond(), csvCells(point.http()), ",".repeat(CSV_FIGURES.size() - 1));
      }
    }
    Path serverCsv = prefix.resolveSibling(prefix.getFileName() + "-server.csv");
    try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(serverCsv, StandardCharsets.UTF_8))) {
      out.println("operation,client,connections_or_threads,target_per_s,per_s,p50_ms,p99_ms,cpu_us_per_call,"
          + "wrk_cpu_us_per_call,others_cpu_us_per_call,jit_ms");
      for (Wrk.Result point : server.wrk()) {
        wrkCsvRow(out, "wrk", point);
      }
      serverCsvRow(out, "in_process", ServerPhase.IN_PROCESS_THREADS, "", server.inProcess());
      for (RawCPoint raw : server.rawC()) {
        serverCsvRow(out, "raw_c", raw.threads(), "", raw.figures());
      }
      serverCsvRow(out, "replay_open_loop", server.openLoop().threads(),
          String.format(Locale.ROOT, "%.1f", server.openLoop().targetPerSecond()), server.openLoop().http());
      for (Pair pair : server.pairs()) {
        serverCsvRow(out, "pair_in_process", ServerPhase.IN_PROCESS_THREADS, "", pair.inProcess());
        wrkCsvRow(out, "pair_wrk", pair.wrk());
      }
    }
    JSON.writeValue(json.toFile(), this);
    System.err.println("results in " + csv + ", " + serverCsv + " and " + json);
  }

  private void wrkCsvRow(PrintWriter out, String client, Wrk.Result point) {
    out.printf(Locale.ROOT, "%s,%s,%d,,%.1f,%.4f,%.4f,%.1f,%.1f,%.1f,%d%n", server.operation(), client,
        point.connections(), point.perSecond(), point.p50Millis(), point.p99Millis(), point.serverCpuMicrosPerRequest(),
        point.wrkCpuMicrosPerRequest(), point.othersCpuMicrosPerRequest(), point.jitMillis());
  }

  /** A row of the server CSV measured in this JVM: its CPU is the whole process's, nothing else's. */
  private void serverCsvRow(PrintWriter out, String client, int threads, String target, Figures figures) {
    out.printf(Locale.ROOT, "%s,%s,%d,%s,%.1f,%.4f,%.4f,%.1f,,,%d%n", server.operation(), client, threads, target,
        figures.perSecond(), figures.p50Millis(), figures.p99Millis(), figures.cpuMicrosPerCall(), figures.jitMillis());
  }

  private static String csvHeader(String prefix) {
    return String.join(",", CSV_FIGURES.stream().map(column -> prefix + "_" + column).toList());
  }

  private static String csvCells(Figures figures) {
    return String.format(Locale.ROOT, "%d,%.1f,%.4f,%.4f,%.4f,%.4f,%.1f,%.1f,%.3f,%d", figures.calls(),
        figures.perSecond(), figures.p50Millis(), figures.p99Millis(), figures.p999Millis(), figures.maxMillis(),
        figures.cpuMicrosPerCall(), figures.callerCpuMicrosPerCall(), figures.othersCpuShare(), figures.jitMillis());
  }
}
