package dev.keyhold.bench.durability;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * What a {@link CrashLoop} run found: a row per round, the final check, and the totals. It passed
 * when the service came back after every crash, nothing acknowledged was lost, every audit line was
 * whole, every acknowledged request was audited, the audit log's chain verified, and the final check
 * had an answer for every item.
 *
 * @param auditChainProblem the first problem {@code AuditLogVerifier} found in the audit log, if any
 */
record CrashLoopReport(long seed, List<Round> rounds, Optional<String> notRestarted, LedgerCheck.Tally finalCheck,
    long keysAcknowledged, long ciphertextsAcknowledged, List<Ledger.Loss> losses, long keysLost,
    long ciphertextsLost, long auditLines, List<String> tornAuditLines, List<String> unaudited,
    Optional<String> auditChainProblem, Duration elapsed) {
  private static final int SHOWN = 20;

  /**
   * One round: the service restarted, served, took load, and was killed.
   *
   * @param startSeconds from starting the service's JVM until it served
   * @param killedAfterSeconds from when it served until the kill
   * @param createKeysInFlight CreateKeys sent and not yet answered when the kill came
   * @param cut calls the kill cut (no answer, so no promise)
   * @param check what this round checked of earlier rounds' acknowledgements
   * @param tornAuditLines torn lines among those the round's incarnation appended to audit.log
   */
  record Round(int number, KillPlan.Kind kill, double startSeconds, double killedAfterSeconds,
      int createKeysInFlight, long keys, long ciphertexts, ErrorCounts errors, long cut, LedgerCheck.Tally check,
      long auditLines, List<String> tornAuditLines) {

    String describe(int of) {
      return String.format(Locale.ROOT, "round %d/%d: served %.2f s after start; killed %s %.2f s after serving"
              + " with %d CreateKey(s) in flight; acknowledged %d keys, %d ciphertexts; %d error(s)%s, %d call(s) cut;"
              + " checked %d keys, %d ciphertexts of earlier rounds (%d lost, %d unanswered); audit: %d lines,"
              + " %d torn", number, of, startSeconds, kill == KillPlan.Kind.AFTER_RESTART ? "right after the restart"
              : "under load", killedAfterSeconds, createKeysInFlight, keys, ciphertexts, errors.total(),
          errors.total() == 0 ? "" : " (" + errors + ")", cut, check.keys(), check.ciphertexts(), check.lost(),
          check.undecided(), auditLines, tornAuditLines.size());
    }
  }

  public boolean passed() {
    return notRestarted.isEmpty() && losses.isEmpty() && tornAuditLines.isEmpty() && unaudited.isEmpty()
        && auditChainProblem.isEmpty() && finalCheck.undecided() == 0;
  }

  public long roundsKilledWithCreateKeysInFlight() {
    return rounds.stream().filter(round -> round.createKeysInFlight() > 0).count();
  }

  public long roundsKilledRightAfterRestart() {
    return rounds.stream().filter(round -> round.kill() == KillPlan.Kind.AFTER_RESTART).count();
  }

  /** Errors the service answered while no kill was under way, over all rounds. */
  public long errors() {
    return rounds.stream().mapToLong(round -> round.errors().total()).sum();
  }

  public void print(PrintStream out) {
    out.println();
    out.printf(Locale.ROOT, "crash loop, seed %d, %.0f s%n", seed, elapsed.toMillis() / 1000.0);
    out.printf("  rounds:                               %d (%d killed with CreateKeys in flight, %d right after"
        + " the restart)%n", rounds.size(), roundsKilledWithCreateKeysInFlight(), roundsKilledRightAfterRestart());
    out.printf("  keys acknowledged:                    %d%n", keysAcknowledged);
    out.printf("  ciphertexts acknowledged:             %d%n", ciphertextsAcknowledged);
    out.printf("  keys lost:                            %d%n", keysLost);
    out.printf("  ciphertexts lost:                     %d%n", ciphertextsLost);
    out.printf("  torn audit lines:                     %d (of %d)%n", tornAuditLines.size(), auditLines);
    out.printf("  acknowledged requests not audited:    %d%n", unaudited.size());
    out.printf("  audit log's chain:                    %s%n", auditChainProblem.orElse("verified"));
    out.printf("  final check: %d keys, %d ciphertexts, %d unanswered%n", finalCheck.keys(),
        finalCheck.ciphertexts(), finalCheck.undecided());
    out.printf("  errors answered under load:           %d%n", errors());
    notRestarted.ifPresent(why -> out.println("  " + why));
    printSome(out, losses.stream().map(loss -> "  " + loss).toList());
    printSome(out, tornAuditLines.stream().map(line -> "  torn audit " + line).toList());
    printSome(out, unaudited.stream().map(request -> "  no audit line for the acknowledged " + request).toList());
    out.println(passed() ? "PASSED: nothing acknowledged was lost" : "FAILED");
  }

  private static void printSome(PrintStream out, List<String> lines) {
    lines.stream().limit(SHOWN).forEach(out::println);
    if (lines.size() > SHOWN) {
      out.printf("  ... and %d more%n", lines.size() - SHOWN);
    }
  }
}
