package dev.keyhold.server.authz;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.collect.ImmutableList.toImmutableList;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableList;

/**
 * A key policy, evaluated as IAM evaluates a resource-based policy on its own: there are no identity
 * policies, grants, permission boundaries or SCPs in Keyhold.
 */
final class Policy {
  /** IAM's three outcomes; the two denials differ only in what the caller is told. */
  enum Decision {
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY
  }

  private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private final ImmutableList<Statement> statements;

  private Policy(ImmutableList<Statement> statements) {
    this.statements = statements;
  }

  /**
   * Reads a policy document of the shape kms-core's policy check lets through.
   *
   * @throws IllegalArgumentException if it is not of that shape
   */
  static Policy parse(String document) {
    JsonNode root;
    try {
      root = JSON.readTree(document);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("The policy is not valid JSON: " + e.getOriginalMessage(), e);
    }
    checkArgument(root != null && root.isObject(), "The policy must be a JSON object.");
    JsonNode statements = root.path("Statement");
    checkArgument(!statements.isMissingNode(), "The policy must have at least one Statement.");
    return new Policy(Statement.oneOrMany(statements).stream().map(Statement::parse).collect(toImmutableList()));
  }

  /** An explicit Deny wins; else any Allow that applies allows; else the request is implicitly denied. */
  Decision decide(Request request) {
    boolean allowed = false;
    for (Statement statement : statements) {
      if (statement.appliesTo(request)) {
        if (statement.isDeny()) {
          return Decision.EXPLICIT_DENY;
        }
        allowed = true;
      }
    }
    return allowed ? Decision.ALLOW : Decision.IMPLICIT_DENY;
  }
}
