package dev.keyhold.softhsm;

import dev.keyhold.pkcs11.Pin;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where a command reads a PIN from: a file or an environment variable, never its own arguments. */
final class PinOptions {
  @Option(names = "--so-pin-file", paramLabel = "FILE",
      description = "File whose first line is the SO PIN (default: environment variable KEYHOLD_SO_PIN).")
  Path soPinFile;

  @Option(names = "--kmsuser-pin-file", paramLabel = "FILE",
      description = "File whose first line is the kmsuser PIN (default: environment variable KEYHOLD_KMSUSER_PIN).")
  Path kmsuserPinFile;

  Pin soPin() throws IOException {
    return soPinFile != null ? Pin.fromFile(soPinFile) : Pin.fromEnvironment("KEYHOLD_SO_PIN");
  }

  Pin kmsuserPin() throws IOException {
    return kmsuserPinFile != null ? Pin.fromFile(kmsuserPinFile) : Pin.fromEnvironment("KEYHOLD_KMSUSER_PIN");
  }
}
