package dev.keyhold.shims;

import static com.google.common.base.Preconditions.checkNotNull;
import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keyhold.pkcs11.BadCredentialsException;
import dev.keyhold.pkcs11.Pin;
import dev.keyhold.pkcs11.PinLockedException;
import dev.keyhold.pkcs11.Pkcs11Exception;
import dev.keyhold.pkcs11.Pkcs11Module;
import dev.keyhold.pkcs11.SessionPoolConfig;
import dev.keyhold.pkcs11.Token;
import dev.keyhold.pkcs11.TokenProfile;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * A stand-in for the CloudHSM CLI ({@code cloudhsm-cli}) against a {@link CloudHsmStandIn}, for the one
 * command Keyhold runs: a crypto user changing its own password in single command mode, {@code
 * cloudhsm-cli user change-password --username U --role crypto-user [--cluster-id C]}, logged in by
 * {@code CLOUDHSM_ROLE} and {@code CLOUDHSM_PIN} ({@code U:password}), the new password typed at the
 * prompts "Enter password:" and "Confirm password:". It answers as the CLI does, with JSON whose
 * {@code error_code} is 0 on success.
 *
 * <p>The login goes through the stand-in library itself, so a wrong password counts towards its
 * lockout and a locked user is refused, as on a cluster. A user that another process is logged in as
 * keeps its password ("You cannot change the password of a user who is currently logged in to the
 * cluster", as AWS documents the CLI). The new password then replaces the user's in the stand-in's
 * users file, the cluster's one copy.
 *
 * <p>{@link #install} writes the executable: a shell script that runs this class's {@code main} on the
 * installing JVM's own Java and class path. Nothing secret is in the script or its command line.
 */
public final class CloudHsmCliStandIn {
  private static final String CRYPTO_USER = "crypto-user";

  private CloudHsmCliStandIn() {}

  /**
   * Writes {@code directory/cloudhsm-cli}, a CLI for {@code standIn}, whose slot is labelled
   * {@code slotLabel}; returns its absolute path.
   */
  public static Path install(CloudHsmStandIn standIn, String slotLabel, Path directory) {
    checkNotNull(standIn, "standIn");
    checkNotNull(slotLabel, "slotLabel");
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    // One command per process, as the real CLI's single-command mode: C1 alone and the serial
    // collector start such a short-lived JVM fastest, and every connect of a store runs one.
    String script = "#!/bin/sh\nexec " + String.join(" ", List.of(quoted(java.toString()),
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
        "--enable-native-access=ALL-UNNAMED", "-cp", quoted(System.getProperty("java.class.path")),
        CloudHsmCliStandIn.class.getName(), quoted(standIn.module().toString()),
        quoted(standIn.stateDirectory().toString()), quoted(slotLabel))) + " \"$@\"\n";
    try {
      Files.createDirectories(directory);
      Path cli = directory.resolve("cloudhsm-cli").toAbsolutePath();
      Files.writeString(cli, script, UTF_8);
      Files.setPosixFilePermissions(cli, PosixFilePermissions.fromString("rwxr-xr-x"));
      return cli;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the CloudHSM CLI stand-in in " + directory, e);
    }
  }

  /** {@code <module> <state directory> <slot label> user change-password --username U --role R [--cluster-id C]} */
  public static void main(String[] args) throws IOException {
    PrintStream out = System.out;
    Answer answer = run(Path.of(args[0]), Path.of(args[1]), args[2], Arrays.copyOfRange(args, 3, args.length));
    out.println("{\n  \"error_code\": " + answer.errorCode + ",\n  \"data\": " + answer.data + "\n}");
    out.flush();
    System.exit(answer.errorCode == 0 ? 0 : 1);
  }

  private static Answer run(Path module, Path stateDir, String slotLabel, String[] command) throws IOException {
    String user = option(command, "--username");
    if (command.length < 2 || !command[0].equals("user") || !command[1].equals("change-password") || user == null
        || !CRYPTO_USER.equals(option(command, "--role"))) {
      return Answer.error("the stand-in runs only 'user change-password --username U --role crypto-user'");
    }
    String pin = System.getenv("CLOUDHSM_PIN");
    if (!CRYPTO_USER.equals(System.getenv("CLOUDHSM_ROLE")) || pin == null || !pin.startsWith(user + ":")) {
      return Answer.error("a crypto user changes its own password: CLOUDHSM_ROLE=crypto-user, CLOUDHSM_PIN=" + user
          + ":<password>");
    }
    BufferedReader typed = new BufferedReader(new InputStreamReader(System.in, UTF_8));
    System.out.print("Enter password:");
    String password = typed.readLine();
    System.out.print("\nConfirm password:");
    String confirmed = typed.readLine();
    System.out.println();
    if (password == null || password.isEmpty() || !password.equals(confirmed)) {
      return Answer.error("Passwords do not match");
    }
    try (Pkcs11Module library = Pkcs11Module.load(module);
        Token loggedIn = Token.login(library, slotLabel, TokenProfile.AWS_CLOUDHSM, Pin.of(pin.toCharArray()),
            SessionPoolConfig.of(1, Duration.ofSeconds(10)))) {
      if (loggedInElsewhere(stateDir, user)) {
        return Answer.error("You cannot change the password of a user who is currently logged in to the cluster: "
            + user + " is logged in");
      }
      CloudHsmStandIn.existing(module, stateDir).setPassword(user, password.toCharArray());
    } catch (PinLockedException e) {
      return Answer.error("User is locked out");
    } catch (BadCredentialsException e) {
      return Answer.error("Invalid username or password");
    } catch (Pkcs11Exception e) {
      return Answer.error("Cannot reach the cluster: " + e.getMessage());
    }
    return new Answer(0, "{\"username\": \"" + user + "\", \"role\": \"" + CRYPTO_USER + "\"}");
  }

  /** Whether another live process is logged in as {@code user} (the stand-in records each login). */
  private static boolean loggedInElsewhere(Path stateDir, String user) throws IOException {
    Path logins = stateDir.resolve("logins");
    if (!Files.isDirectory(logins)) {
      return false;
    }
    String self = Long.toString(ProcessHandle.current().pid());
    try (Stream<Path> files = Files.list(logins)) {
      for (Path login : (Iterable<Path>) files::iterator) {
        String pid = login.getFileName().toString();
        if (!pid.equals(self) && Files.exists(Path.of("/proc", pid)) && readName(login).equals(user)) {
          return true;
        }
      }
    }
    return false;
  }

  private static String readName(Path login) {
    try {
      return Files.readString(login, UTF_8).strip();
    } catch (IOException goneMeanwhile) {
      return "";
    }
  }

  private static String option(String[] command, String name) {
    for (int i = 0; i + 1 < command.length; i++) {
      if (command[i].equals(name)) {
        return command[i + 1];
      }
    }
    return null;
  }

  private static String quoted(String text) {
    return "'" + text.replace("'", "'\\''") + "'";
  }

  private record Answer(int errorCode, String data) {
    static Answer error(String message) {
      return new Answer(1, "\"" + message.replace("\\", "\\\\").replace("\"", "\\\"") + "\"");
    }
  }
}
