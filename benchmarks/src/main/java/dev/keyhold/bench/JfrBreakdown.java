package dev.keyhold.bench;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

/**
 * Where a server's CPU goes per request, from a JFR recording of it under load: each CPU sample is
 * put in the first {@link Part} that names one of its frames, from the innermost out, so that a
 * sample in Jackson under the audit log counts for the audit log, and one in the JDK's MAC under SigV4
 * for SigV4.
 *
 * <p>On JDK 25 and newer the samples are JFR's CPU-time sampler's ({@code jdk.CPUTimeSample}), which
 * samples a thread every period of its own CPU time wherever it runs, in Java, in native code (the
 * PKCS#11 library) or in the kernel on its behalf; older JDKs have only the execution sampler, which
 * sees Java code alone, and the breakdown says so. (JFR's native method sampler is no substitute: it
 * samples threads that wait in native code, an idle selector as much as a busy token.) Either way
 * only Java threads are sampled: the JIT's and the garbage collector's CPU is in the process's figure
 * but in no part here.
 */
final class JfrBreakdown {
  /** A part of a request's path and the frames, by class or method name prefix, that are in it. */
  record Part(String label, List<String> framePrefixes) {
    Part(String label, String... framePrefixes) {
      this(label, List.of(framePrefixes));
    }

    boolean holds(String frame) {
      return framePrefixes.stream().anyMatch(frame::startsWith);
    }
  }

  /** The parts of an HTTP Encrypt, innermost first where a frame could be in two. */
  static final ImmutableList<Part> HTTP_ENCRYPT = ImmutableList.of(
      new Part("the HSM call (C_EncryptInit + C_Encrypt in the token)", "dev.keyhold.pkcs11.FfmCryptoCalls",
          "dev.keyhold.pkcs11.WrapperCryptoCalls"),
      new Part("the adapter: session pool, key handle, IV, call watch", "dev.keyhold.pkcs11."),
      new Part("kms-core: checks, ciphertext header, encryption context, failover", "dev.keyhold.kms.key.",
          "dev.keyhold.kms.keystore."),
      new Part("authorization: key policy, identity policies, grants", "dev.keyhold.kms.policy.",
          "dev.keyhold.server.wire.KeyAccess"),
      new Part("SigV4: headers, canonical request, signature", "dev.keyhold.server.auth.",
          "dev.keyhold.server.wire.KmsWireHandler.view"),
      new Part("JSON: request and answer", "dev.keyhold.server.wire.WireJson"),
      new Part("audit log: the line, its MAC, the write", "dev.keyhold.server.ops.AuditLog",
          "dev.keyhold.server.ops.ChainedFile", "dev.keyhold.server.ops.AuditLine"),
      new Part("metrics", "dev.keyhold.server.ops.ServiceMetrics"),
      new Part("quotas", "dev.keyhold.server.quota."),
      new Part("the wire handler's own work", "dev.keyhold.server."),
      new Part("hand-offs between threads: wake, park", "org.jboss.threads.", "java.util.concurrent.locks.LockSupport",
          "org.xnio.nio.WorkerThread.execute"),
      new Part("Undertow: request parsing", "io.undertow.server.protocol.http.HttpRequestParser",
          "io.undertow.server.protocol.http.RequestParser", "io.undertow.server.protocol.http.HttpReadListener"),
      new Part("Undertow: the answer's write", "io.undertow.server.protocol.http.HttpResponseConduit",
          "io.undertow.io.", "io.undertow.conduits."),
      new Part("Undertow: the rest", "io.undertow."),
      new Part("sockets and the selector: read, write, epoll (XNIO, NIO)", "org.xnio.", "sun.nio.ch."));

  private static final String CPU_TIME_SAMPLE = "jdk.CPUTimeSample";
  private static final String EXECUTION_SAMPLE = "jdk.ExecutionSample";
  private static final String GARBAGE_COLLECTION = "jdk.GarbageCollection";
  private static final Duration SAMPLING_PERIOD = Duration.ofMillis(2);

  private final Map<String, Double> weights;
  private final double total;
  private final boolean cpuTime;
  private final List<Duration> gcPauses;

  private JfrBreakdown(Map<String, Double> weights, double total, boolean cpuTime, List<Duration> gcPauses) {
    this.weights = weights;
    this.total = total;
    this.cpuTime = cpuTime;
    this.gcPauses = gcPauses;
  }

  /**
   * The CPU time of this JVM's live Java threads: the process's less the JIT's and the GC's, which
   * are no Java threads here.
   */
  static long javaThreadsCpuNanos() {
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long sum = 0;
    for (long id : threads.getAllThreadIds()) {
      sum += Math.max(0, threads.getThreadCpuTime(id)); // -1 for a thread that ended meanwhile
    }
    return sum;
  }

  /** The bytes this JVM's live Java threads have allocated on the heap. */
  static long javaThreadsAllocatedBytes() {
    com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    return Arrays.stream(threads.getThreadAllocatedBytes(threads.getAllThreadIds())).filter(b -> b > 0).sum();
  }

  /** A recording, not started, that samples what {@link #of} reads. */
  static Recording newRecording() {
    Recording recording = new Recording();
    // Unknown to JDKs before 25: enabling it there enables nothing.
    recording.enable(CPU_TIME_SAMPLE).with("throttle", SAMPLING_PERIOD.toMillis() + " ms");
    recording.enable(EXECUTION_SAMPLE).withPeriod(Duration.ofMillis(10));
    recording.enable(GARBAGE_COLLECTION).withoutThreshold();
    return recording;
  }

  /** The breakdown of the samples in {@code recording} into {@code parts}. */
  static JfrBreakdown of(Path recording, List<Part> parts) throws IOException {
    List<RecordedEvent> events = RecordingFile.readAllEvents(recording);
    boolean cpuTime = events.stream().anyMatch(e -> e.getEventType().getName().equals(CPU_TIME_SAMPLE));
    Map<String, Double> weights = new LinkedHashMap<>();
    parts.forEach(part -> weights.put(part.label(), 0.0));
    double total = 0;
    List<Duration> gcPauses = new ArrayList<>();
    for (RecordedEvent event : events) {
      String type = event.getEventType().getName();
      if (type.equals(GARBAGE_COLLECTION)) {
        gcPauses.add(event.getDuration("sumOfPauses"));
        continue;
      }
      boolean counted = type.equals(cpuTime ? CPU_TIME_SAMPLE : EXECUTION_SAMPLE);
      RecordedThread thread = event.hasField("sampledThread") ? event.getThread("sampledThread") : event.getThread();
      if (!counted || event.getStackTrace() == null || thread == null || thread.getJavaName().startsWith("JFR")) {
        continue;
      }
      // The CPU-time sampler lengthens its period when it throttles: a sample weighs its period.
      double weight = cpuTime ? event.getDuration("samplingPeriod").toNanos() : 1;
      weights.merge(partOf(event.getStackTrace(), parts), weight, Double::sum);
      total += weight;
    }
    checkArgument(total > 0, "the recording %s holds no CPU sample", recording);
    return new JfrBreakdown(weights, total, cpuTime, gcPauses);
  }

  private static String partOf(RecordedStackTrace stack, List<Part> parts) {
    for (RecordedFrame frame : stack.getFrames()) {
      if (!frame.isJavaFrame()) {
        continue;
      }
      String name = frame.getMethod().getType().getName() + "." + frame.getMethod().getName();
      for (Part part : parts) {
        if (part.holds(name)) {
          return part.label();
        }
      }
    }
    return "elsewhere (JDK, logging, threads' own loops)";
  }

  /**
   * Prints each part's share, and its microseconds of the {@code javaMicrosPerRequest} that the Java
   * threads spent per request; then what they allocated per request, and the GC's pauses.
   */
  void print(PrintStream out, double javaMicrosPerRequest, double allocatedBytesPerRequest) {
    out.printf(Locale.ROOT, "Where the server's Java threads spent their %.1f us of CPU per request (%s; the JIT's"
        + " and the GC's CPU is not in it):%n", javaMicrosPerRequest, cpuTime ? "JFR's CPU-time sampler"
            : "JFR's execution sampler: this JDK has no CPU-time sampler, so time in native code and in the"
                + " kernel is left out");
    weights.entrySet().stream().filter(part -> part.getValue() > 0)
        .sorted(Map.Entry.<String, Double>comparingByValue().reversed())
        .forEach(part -> out.printf(Locale.ROOT, "  %5.1f%%  %6.1f us  %s%n", 100 * part.getValue() / total,
            javaMicrosPerRequest * part.getValue() / total, part.getKey()));
    out.printf(Locale.ROOT, "Allocated %.1f KiB per request; %d garbage collections, pauses %.1f ms in all, the"
            + " longest %.1f ms%n", allocatedBytesPerRequest / 1024, gcPauses.size(),
        gcPauses.stream().mapToLong(Duration::toNanos).sum() / 1e6,
        gcPauses.stream().mapToLong(Duration::toNanos).max().orElse(0) / 1e6);
  }
}
