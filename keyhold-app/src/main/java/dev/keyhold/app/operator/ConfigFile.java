package dev.keyhold.app.operator;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.google.common.collect.ImmutableList;
import dev.keyhold.server.authz.KmsOperation;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a node's YAML file ({@link NodeConfig}): every {@code ${VAR}} replaced by the variable's
 * value, unknown members refused, required members checked, and every problem reported with its
 * line, all of them at once rather than the first alone.
 */
public final class ConfigFile {
  private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)}");
  private static final Pattern ACCOUNT_ID = Pattern.compile("\\d{12}");
  private static final Pattern NODE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final ObjectMapper YAML = YAMLMapper.builder()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
      .build();

  /** A problem of the file, at a line of it (0 where none applies). */
  public record Problem(int line, String message) {
    @Override
    public String toString() {
      return line > 0 ? "line " + line + ": " + message : message;
    }
  }

  /** The file read: its configuration if it could be read at all, every problem found, and where each member is. */
  public record Read(Optional<NodeConfig> config, ImmutableList<Problem> problems, Map<String, Integer> lines) {
    /** The line of the member at {@code path} ({@code /metadata/jdbc/url}), or of its nearest parent that is there. */
    public int lineOf(String path) {
      for (String at = path; !at.isEmpty(); at = at.substring(0, Math.max(0, at.lastIndexOf('/')))) {
        Integer line = lines.get(at);
        if (line != null) {
          return line;
        }
      }
      return 0;
    }

    public NodeConfig orElseThrow() {
      if (!problems.isEmpty() || config.isEmpty()) {
        throw new IllegalArgumentException("the configuration has problems: " + problems);
      }
      return config.get();
    }
  }

  private ConfigFile() {}

  /** Reads {@code file}, taking {@code ${VAR}} from {@code environment}. */
  public static Read read(Path file, Function<String, String> environment) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return new Read(Optional.empty(), ImmutableList.of(new Problem(0, "cannot read " + file + ": " + e)), Map.of());
    }
    List<Problem> problems = new ArrayList<>();
    String expanded = expand(text, environment, problems);
    Map<String, Integer> lines = new HashMap<>();
    Optional<NodeConfig> config = Optional.empty();
    try {
      index(expanded, lines);
      config = Optional.ofNullable(YAML.readValue(expanded, NodeConfig.class));
    } catch (JsonMappingException e) {
      // A member's own line, from the index: the parser's location is where it stopped reading.
      int line = new Read(Optional.empty(), ImmutableList.of(), lines).lineOf(pointerOf(e));
      problems.add(new Problem(line > 0 ? line : lineOf(e), e.getOriginalMessage()));
    } catch (JsonProcessingException e) {
      problems.add(new Problem(lineOf(e), e.getOriginalMessage()));
    } catch (IOException e) {
      problems.add(new Problem(0, e.toString()));
    }
    Read read = new Read(config, ImmutableList.of(), Map.copyOf(lines));
    if (config.isEmpty() && problems.isEmpty()) {
      problems.add(new Problem(0, "the file is empty"));
    }
    config.ifPresent(node -> checkMembers(node, read, problems));
    return new Read(config, ImmutableList.copyOf(problems), Map.copyOf(lines));
  }

  private static String pointerOf(JsonMappingException e) {
    StringBuilder pointer = new StringBuilder();
    for (JsonMappingException.Reference reference : e.getPath()) {
      if (reference.getFieldName() != null) {
        pointer.append('/').append(reference.getFieldName());
      }
    }
    return pointer.toString();
  }

  private static int lineOf(JsonProcessingException e) {
    return e.getLocation() == null ? 0 : e.getLocation().getLineNr();
  }

  /** Replaces every {@code ${VAR}}, line by line, so that lines keep their numbers. */
  private static String expand(String text, Function<String, String> environment, List<Problem> problems) {
    String[] lines = text.split("\n", -1);
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < lines.length; i++) {
      Matcher variable = VARIABLE.matcher(lines[i]);
      StringBuilder line = new StringBuilder();
      while (variable.find()) {
        String value = environment.apply(variable.group(1));
        if (value == null) {
          problems.add(new Problem(i + 1, "${" + variable.group(1) + "} is not set"));
          value = "";
        } else if (value.contains("\n")) {
          problems.add(new Problem(i + 1, "${" + variable.group(1) + "} holds a line break"));
          value = "";
        }
        variable.appendReplacement(line, Matcher.quoteReplacement(value));
      }
      variable.appendTail(line);
      out.append(line);
      if (i < lines.length - 1) {
        out.append('\n');
      }
    }
    return out.toString();
  }

  /** Where each member is: {@code /listen/port} to its line. */
  private static void index(String yaml, Map<String, Integer> lines) throws IOException {
    try (JsonParser parser = new YAMLFactory().createParser(yaml)) {
      for (JsonToken token = parser.nextToken(); token != null; token = parser.nextToken()) {
        if (token == JsonToken.FIELD_NAME) {
          lines.putIfAbsent(parser.getParsingContext().pathAsPointer().toString(),
              parser.currentTokenLocation().getLineNr());
        }
      }
    }
  }

  private static void checkMembers(NodeConfig node, Read read, List<Problem> problems) {
    Checks checks = new Checks(read, problems);
    checks.that(node.node() != null && NODE_NAME.matcher(node.node()).matches(), "/node",
        "node must name this node: letters, digits, '.', '_' or '-', at most 128");
    if (checks.present(node.listen(), "/listen")) {
      checks.that(node.listen().port() != null && node.listen().port() >= 0 && node.listen().port() <= 65535,
          "/listen/port", "listen.port must be 0 to 65535");
      checks.that(node.listen().host() != null && !node.listen().host().isBlank(), "/listen/host",
          "listen.host must name an address to listen on");
      checks.that(node.listen().maxConnections() == null || node.listen().maxConnections() > 0,
          "/listen/maxConnections", "listen.maxConnections must be positive");
      NodeConfig.Tls tls = node.listen().tls();
      if (tls != null) {
        boolean pem = tls.certificate() != null && tls.privateKey() != null && tls.pkcs12() == null;
        boolean pkcs12 = tls.pkcs12() != null && tls.certificate() == null && tls.privateKey() == null;
        checks.that(pem || pkcs12, "/listen/tls",
            "listen.tls needs certificate and privateKey (PEM), or pkcs12 (and its password)");
      }
    }
    if (checks.present(node.account(), "/account")) {
      checks.that(node.account().id() != null && ACCOUNT_ID.matcher(node.account().id()).matches(), "/account/id",
          "account.id must be 12 digits");
      checks.that(node.account().region() != null && !node.account().region().isBlank(), "/account/region",
          "account.region must name a Region");
    }
    checks.present(node.clusters(), "/clusters");
    if (checks.present(node.metadata(), "/metadata")) {
      NodeConfig.Metadata metadata = node.metadata();
      checks.that((metadata.h2() == null) != (metadata.jdbc() == null), "/metadata",
          "metadata needs exactly one of h2 (a directory) and jdbc (url, user, password)");
      if (metadata.jdbc() != null) {
        checks.that(metadata.jdbc().url() != null && metadata.jdbc().url().startsWith("jdbc:"), "/metadata/jdbc/url",
            "metadata.jdbc.url must be a JDBC URL, such as jdbc:postgresql://db.example.com/keyhold");
        checks.present(metadata.jdbc().user(), "/metadata/jdbc/user");
        checks.present(metadata.jdbc().password(), "/metadata/jdbc/password");
      }
    }
    if (node.quotas() != null) {
      checkQuotas(node.quotas(), checks);
    }
    if (node.hsmCallDeadlineMillis() != null) {
      checks.that(node.hsmCallDeadlineMillis() >= 100, "/hsmCallDeadlineMillis",
          "hsmCallDeadlineMillis must be at least 100 (milliseconds)");
    }
    checks.present(node.masterKey(), "/masterKey");
    checks.present(node.auditLog(), "/auditLog");
  }

  private static void checkQuotas(NodeConfig.Quotas quotas, Checks checks) {
    checkRate(quotas.cryptographicPerAccount(), "/quotas/cryptographicPerAccount", checks);
    checkRate(quotas.perKeyStore(), "/quotas/perKeyStore", checks);
    checkRate(quotas.perCredential(), "/quotas/perCredential", checks);
    quotas.operations().forEach((name, rate) -> {
      String path = "/quotas/operations/" + name;
      Optional<KmsOperation> operation = KmsOperation.named(name);
      if (checks.that(operation.isPresent(), path, "quotas.operations: " + name + " is no operation Keyhold serves")) {
        checks.that(!KmsOperation.CRYPTOGRAPHIC.contains(operation.get()), path, "quotas.operations: " + name
            + " shares quotas.cryptographicPerAccount and has no rate of its own");
      }
      checkRate(rate, path, checks);
    });
  }

  private static void checkRate(String rate, String path, Checks checks) {
    if (rate != null) {
      checks.that(NodeConfig.Quotas.rate(rate).isPresent(), path, path.substring(1).replace('/', '.')
          + " must be a positive number of requests per second, or unlimited");
    }
  }

  /** Adds a problem, at its member's line, for each check that fails. */
  record Checks(Read read, List<Problem> problems) {
    boolean that(boolean holds, String path, String message) {
      if (!holds) {
        problems.add(new Problem(read.lineOf(path), message));
      }
      return holds;
    }

    boolean present(Object value, String path) {
      return that(value != null, path, path.substring(1).replace('/', '.') + " is required");
    }
  }
}
