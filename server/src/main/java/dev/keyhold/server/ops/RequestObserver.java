package dev.keyhold.server.ops;

/** Told of every request once it is answered: the audit log, the metrics. Must not throw. */
public interface RequestObserver {
  void completed(RequestOutcome outcome);
}
