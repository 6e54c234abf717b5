-- KMS keys. A row is written (state Creating) before the key material is generated in the HSM, so a
-- crash in between leaves a visible intent, never material that no KMS key owns.

CREATE TABLE kms_keys (
  key_id          VARCHAR(36)    NOT NULL PRIMARY KEY,
  arn             VARCHAR(2048)  NOT NULL UNIQUE,
  key_store_id    VARCHAR(64)    NOT NULL REFERENCES custom_key_stores (id),
  cluster_id      VARCHAR(24)    NOT NULL,
  description     VARCHAR(8192)  NOT NULL,
  key_state       VARCHAR(32)    NOT NULL,
  creation_date   BIGINT         NOT NULL,
  origin          VARCHAR(32)    NOT NULL
);

CREATE INDEX kms_keys_by_key_store ON kms_keys (key_store_id);
