package dev.keyhold.kms.metadata;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.time.Duration;

/**
 * This process as one node of the service over a metadata database that other nodes may share: a
 * name that stays the same across restarts, and how long a lease it takes on work in flight (a
 * CreateKey) lasts without renewal. Leases end by the database's clock, never by a node's.
 *
 * <p>Each start of a process is a new run of its node, and a new run revokes the leases its node's
 * earlier runs left: those runs are dead. So two live processes must not share a name. If they do
 * anyway, nothing is lost: each may fail the other's CreateKeys, which then leave nothing behind.
 */
public record ServiceNode(String name, Duration leaseTerm) {
  /** The embedded default: one process over one embedded database. */
  public static final ServiceNode LOCAL = new ServiceNode("local", Duration.ofSeconds(30));

  public ServiceNode {
    checkNotNull(name, "name");
    checkArgument(!name.isEmpty() && name.length() <= 128, "a node name has 1 to 128 characters: '%s'", name);
    checkArgument(leaseTerm.compareTo(Duration.ofMillis(100)) >= 0 && leaseTerm.compareTo(Duration.ofHours(1)) <= 0,
        "a lease term is between 100 ms and 1 hour: %s", leaseTerm);
  }

  /** This node with another lease term. */
  public ServiceNode withLeaseTerm(Duration term) {
    return new ServiceNode(name, term);
  }
}
