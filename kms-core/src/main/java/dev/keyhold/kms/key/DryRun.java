package dev.keyhold.kms.key;

import static dev.keyhold.kms.error.KmsErrorType.DryRunOperationException;

import dev.keyhold.kms.error.KmsException;

/**
 * DryRun, as the operations that have it answer it: a request is checked as it would be run, and
 * answered DryRunOperationException with AWS's message where it would have changed something or called
 * an HSM.
 */
final class DryRun {
  private static final String SUCCEEDED = "The request would have succeeded, but the DryRun option is set.";

  private DryRun() {}

  /** Whether the request's DryRun member asks for a dry run. */
  static boolean requested(Boolean dryRun) {
    return Boolean.TRUE.equals(dryRun);
  }

  /** The answer of a dry run that passed every check. */
  static KmsException succeeded() {
    return new KmsException(DryRunOperationException, SUCCEEDED);
  }
}
