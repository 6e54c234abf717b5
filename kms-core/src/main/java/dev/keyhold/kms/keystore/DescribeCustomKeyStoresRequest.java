package dev.keyhold.kms.keystore;

/** DescribeCustomKeyStores' input: an id or a name (not both), or neither for all; Limit and Marker page. */
public record DescribeCustomKeyStoresRequest(
    String customKeyStoreId, String customKeyStoreName, Integer limit, String marker) {

  public static DescribeCustomKeyStoresRequest all() {
    return new DescribeCustomKeyStoresRequest(null, null, null, null);
  }

  public static DescribeCustomKeyStoresRequest named(String customKeyStoreName) {
    return new DescribeCustomKeyStoresRequest(null, customKeyStoreName, null, null);
  }
}
