package dev.keyhold.bench.harness;

import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where and how a run was made, so that figures are never read apart from their machine, JDK, library
 * and token.
 *
 * @param started ISO-8601 instant
 * @param finished ISO-8601 instant
 */
record RunInfo(String started, String finished, Machine machine, String jdk, String module, String token,
    Settings settings) {
  /**
   * @param loadAverage the one-minute load average before the run: how busy other work kept the machine
   */
  record Machine(String host, String os, String cpu, int processors, long memoryBytes, double loadAverage) {
    static Machine now() {
      var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      return new Machine(hostName(), System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
          + System.getProperty("os.arch"), cpuModel(), Runtime.getRuntime().availableProcessors(),
          os.getTotalMemorySize(), os.getSystemLoadAverage());
    }

    private static String hostName() {
      try {
        return InetAddress.getLocalHost().getHostName();
      } catch (IOException e) {
        return "unknown";
      }
    }

    /** Linux's name for the processor; the architecture elsewhere. */
    private static String cpuModel() {
      try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
        return lines.filter(line -> line.startsWith("model name"))
            .map(line -> line.substring(line.indexOf(':') + 1).trim())
            .findFirst()
            .orElse(System.getProperty("os.arch"));
      } catch (IOException e) {
        return System.getProperty("os.arch");
      }
    }
  }

  /** The run's options, as given or defaulted; never the PIN. */
  record Settings(List<String> workloads, List<Integer> payloads, List<Integer> threads, double dryPassSeconds,
      double warmupSeconds, double durationSeconds, long seed, List<String> compare, int rounds, String httpTarget) {
    Settings {
      workloads = ImmutableList.copyOf(workloads);
      payloads = ImmutableList.copyOf(payloads);
      threads = ImmutableList.copyOf(threads);
      compare = ImmutableList.copyOf(compare);
    }
  }

  static String currentJdk() {
    return System.getProperty("java.vm.vendor") + " " + System.getProperty("java.vm.name") + " "
        + System.getProperty("java.runtime.version");
  }
}
