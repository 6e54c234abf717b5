/**
 * HSM clusters as the service knows them: {@link dev.keyhold.kms.cluster.Cluster}s of
 * {@link dev.keyhold.kms.cluster.Hsm}s, each cluster with the {@link dev.keyhold.kms.cluster.TrustAnchor}
 * it was initialised with, read from the clusters file by {@link dev.keyhold.kms.cluster.ClusterFile}
 * into a {@link dev.keyhold.kms.cluster.ClusterRegistry}. The file format is in docs/clusters.md.
 */
package dev.keyhold.kms.cluster;
