-- Aliases: friendly names for KMS keys (alias/...). Deleting a key deletes its aliases.
CREATE TABLE aliases (
  alias_name         VARCHAR(256) NOT NULL PRIMARY KEY,
  target_key_id      VARCHAR(36)  NOT NULL REFERENCES kms_keys (key_id) ON DELETE CASCADE,
  creation_date      BIGINT       NOT NULL,
  last_updated_date  BIGINT       NOT NULL
);

CREATE INDEX aliases_by_key ON aliases (target_key_id);
