package dev.keyhold.kms.key;

import java.time.Instant;

/** One alias as ListAliases shows it. */
public record AliasListEntry(String aliasName, String aliasArn, String targetKeyId, Instant creationDate,
    Instant lastUpdatedDate) {}
