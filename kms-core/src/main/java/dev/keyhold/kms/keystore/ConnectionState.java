package dev.keyhold.kms.keystore;

/** A custom key store's connection to its cluster, as DescribeCustomKeyStores reports it. */
public enum ConnectionState {
  CONNECTED,
  CONNECTING,
  FAILED,
  DISCONNECTED,
  DISCONNECTING
}
