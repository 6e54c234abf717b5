-- ScheduleKeyDeletion: when a key's waiting period ends (epoch milliseconds; NULL unless PendingDeletion).
ALTER TABLE kms_keys ADD COLUMN deletion_date BIGINT;

-- What became of each HSM's copy of a deleted key's material, for the operator (best effort, as AWS).
CREATE TABLE key_material_deletions (
  key_id        VARCHAR(36)   NOT NULL,
  arn           VARCHAR(2048) NOT NULL,
  key_store_id  VARCHAR(64)   NOT NULL,
  hsm_id        VARCHAR(32)   NOT NULL,
  status        VARCHAR(16)   NOT NULL,
  detail        VARCHAR(512)  NOT NULL,
  deleted_at    BIGINT        NOT NULL,
  PRIMARY KEY (key_id, hsm_id)
);
