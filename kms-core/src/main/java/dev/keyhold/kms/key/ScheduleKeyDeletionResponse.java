package dev.keyhold.kms.key;

import java.time.Instant;

/** ScheduleKeyDeletion's output: the key's ARN, when it will be deleted, its state and the window. */
public record ScheduleKeyDeletionResponse(String keyId, Instant deletionDate, KeyState keyState,
    int pendingWindowInDays) {}
