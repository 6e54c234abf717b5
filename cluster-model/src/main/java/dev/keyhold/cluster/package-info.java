/**
 * HSM clusters as the service knows them: {@link dev.keyhold.cluster.Cluster}s of
 * {@link dev.keyhold.cluster.Hsm}s, each cluster with the {@link dev.keyhold.cluster.TrustAnchor}
 * it was initialised with, read from the clusters file by {@link dev.keyhold.cluster.ClusterFile}
 * into a {@link dev.keyhold.cluster.ClusterRegistry}. The file format is in docs/clusters.md.
 */
package dev.keyhold.cluster;
