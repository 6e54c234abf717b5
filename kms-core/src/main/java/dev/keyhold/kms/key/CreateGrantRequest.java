package dev.keyhold.kms.key;

import java.util.List;

/** CreateGrant's input; members may be null where AWS lets them be absent. With {@code dryRun}, only checked. */
public record CreateGrantRequest(String keyId, String granteePrincipal, String retiringPrincipal,
    List<String> operations, GrantConstraints constraints, String name, Boolean dryRun) {}
