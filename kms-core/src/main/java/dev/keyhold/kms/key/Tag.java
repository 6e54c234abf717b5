package dev.keyhold.kms.key;

/** A tag on a KMS key: TagKey 1 to 128 characters, TagValue 0 to 256. */
public record Tag(String tagKey, String tagValue) {}
