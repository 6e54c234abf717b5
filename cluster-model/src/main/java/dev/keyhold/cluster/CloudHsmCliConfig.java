package dev.keyhold.cluster;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import java.nio.file.Path;

/**
 * Where an AWS CloudHSM cluster's command line tool is, through which kmsuser changes its own
 * password: the CloudHSM PKCS#11 library has no {@code C_SetPIN}.
 *
 * @param executable absolute path of {@code cloudhsm-cli}, e.g. {@code /opt/cloudhsm/bin/cloudhsm-cli}
 * @param multiCluster whether the CLI is configured for several clusters ({@code configure-cli
 *     add-cluster}), so that each command must name its cluster with {@code --cluster-id}
 */
public record CloudHsmCliConfig(Path executable, boolean multiCluster) {
  public CloudHsmCliConfig {
    checkNotNull(executable, "executable");
    checkArgument(executable.isAbsolute(), "the CloudHSM CLI's path must be absolute: %s", executable);
  }
}
