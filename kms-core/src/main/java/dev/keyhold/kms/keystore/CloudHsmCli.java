package dev.keyhold.kms.keystore;

import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keyhold.cluster.CloudHsmCliConfig;
import dev.keyhold.pkcs11.Pin;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A crypto user changing its own password on an AWS CloudHSM cluster, through the CloudHSM CLI in
 * single command mode as AWS documents it: {@code cloudhsm-cli user change-password --username U
 * --role crypto-user}, logged in by the environment variables {@code CLOUDHSM_ROLE=crypto-user} and
 * {@code CLOUDHSM_PIN=U:<current password>}, the new password typed at its two prompts ("Enter
 * password:", "Confirm password:"). The CLI answers with JSON whose {@code error_code} is 0 on success.
 * The CloudHSM PKCS#11 library has no {@code C_SetPIN}, so this is the one way to rotate kmsuser.
 *
 * <p>Passwords never reach a command line or a file: the current one is in the environment of the
 * CLI's own process only, which ends with the call (killed at {@link #DEADLINE}), and the new one goes
 * to its standard input. The CLI's output, which could echo what it read, is never logged.
 */
final class CloudHsmCli {
  /** How long the CLI may take: it starts, connects to the cluster, logs in and changes the password. */
  static final Duration DEADLINE = Duration.ofSeconds(30);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final CloudHsmCliConfig config;
  private final String clusterId;

  CloudHsmCli(CloudHsmCliConfig config, String clusterId) {
    this.config = checkNotNull(config, "config");
    this.clusterId = checkNotNull(clusterId, "clusterId");
  }

  /**
   * Changes {@code user}'s password from {@code current} to {@code next} on every HSM of the cluster
   * (the cluster holds its users once).
   *
   * @throws Refused if the CLI ran and said no, with its error code and message: the password is
   *     unchanged, unless the CLI failed after changing it, which the caller's recovery must allow for
   * @throws Unanswered if the CLI could not be started, ended without an answer, or took longer than
   *     {@link #DEADLINE}: the password may or may not have changed
   */
  void changeOwnPassword(String user, Pin current, Pin next) {
    List<String> command = new ArrayList<>(List.of(config.executable().toString(), "user", "change-password",
        "--username", user, "--role", "crypto-user"));
    if (config.multiCluster()) {
      command.addAll(List.of("--cluster-id", clusterId));
    }
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("CLOUDHSM_ROLE", "crypto-user");
    builder.environment().put("CLOUDHSM_PIN", current.withChars(chars -> user + ":" + new String(chars)));
    Process process;
    try {
      process = builder.start();
    } catch (IOException e) {
      throw new Unanswered("cannot run " + config.executable() + ": " + e.getMessage());
    }
    try {
      CompletableFuture<byte[]> output = CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
      try (OutputStream stdin = process.getOutputStream()) {
        byte[] typed = next.withChars(CloudHsmCli::typedTwice);
        try {
          stdin.write(typed);
        } finally {
          Arrays.fill(typed, (byte) 0);
        }
      } catch (IOException e) {
        // The CLI closed its input early; its answer says why.
      }
      if (!process.waitFor(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new Unanswered(config.executable() + " gave no answer within " + DEADLINE.toSeconds() + " s");
      }
      check(process.exitValue(), output.join());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Unanswered("interrupted while " + config.executable() + " ran");
    } finally {
      process.destroyForcibly();
    }
  }

  /** The new password at the "Enter password:" prompt, then at "Confirm password:". */
  private static byte[] typedTwice(char[] password) {
    CharBuffer twice = CharBuffer.allocate(2 * password.length + 2);
    twice.put(password).put('\n').put(password).put('\n').flip();
    ByteBuffer bytes = UTF_8.encode(twice);
    Arrays.fill(twice.array(), '\0');
    byte[] typed = new byte[bytes.remaining()];
    bytes.get(typed);
    Arrays.fill(bytes.array(), (byte) 0);
    return typed;
  }

  private void check(int exitValue, byte[] output) {
    JsonNode answer = lastJsonObject(output);
    if (answer == null) {
      throw new Unanswered(config.executable() + " exited with " + exitValue + " and no JSON answer");
    }
    int errorCode = answer.path("error_code").asInt(-1);
    if (errorCode != 0 || exitValue != 0) {
      // The CLI's error text names the failure (a bad login, a locked user); it holds no password.
      throw new Refused(errorCode, answer.path("data").isTextual() ? answer.path("data").asText()
          : answer.path("data").toString());
    }
  }

  /** The JSON object that ends the output, after the prompts. */
  private static JsonNode lastJsonObject(byte[] output) {
    String text = new String(output, UTF_8);
    for (int start = text.indexOf('{'); start >= 0; start = text.indexOf('{', start + 1)) {
      try {
        JsonNode node = JSON.readTree(text.substring(start));
        if (node != null && node.isObject() && node.has("error_code")) {
          return node;
        }
      } catch (IOException notHere) {
        // a brace inside a prompt; try the next one
      }
    }
    return null;
  }

  private static byte[] readAll(InputStream in) {
    try (in) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The CLI answered, and refused. */
  static final class Refused extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Refused(int errorCode, String message) {
      super("cloudhsm-cli refused the password change (error_code " + errorCode + "): " + message);
    }

    /**
     * Whether the CLI refused because the user is logged in elsewhere ("You cannot change the password
     * of a user who is currently logged in to the cluster", as AWS documents it): AWS KMS's
     * USER_LOGGED_IN.
     */
    boolean saysUserLoggedIn() {
      return getMessage().toLowerCase(Locale.ROOT).contains("logged in");
    }
  }

  /** The CLI gave no answer: whether the password changed is unknown. */
  static final class Unanswered extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Unanswered(String message) {
      super(message);
    }
  }
}
