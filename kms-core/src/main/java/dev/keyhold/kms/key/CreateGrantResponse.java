package dev.keyhold.kms.key;

/** CreateGrant's output: a token of the grant (new each time) and its id. */
public record CreateGrantResponse(String grantToken, String grantId) {}
