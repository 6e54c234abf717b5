package dev.keyhold.kms.key;

/** GetKeyPolicy's output. */
public record GetKeyPolicyResponse(String policy, String policyName) {}
