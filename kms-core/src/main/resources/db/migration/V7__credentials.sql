-- The access keys callers sign with, shared by every node of the service. The secret is sealed under the
-- master key with the access key id as associated data; state is Active or Inactive (disabled).
CREATE TABLE credentials (
  access_key_id      VARCHAR(128)  NOT NULL PRIMARY KEY,
  principal_arn      VARCHAR(2048) NOT NULL,
  administrator      BOOLEAN       NOT NULL,
  sealed_secret      VARCHAR(512)  NOT NULL,
  state              VARCHAR(16)   NOT NULL,
  creation_date      BIGINT        NOT NULL
);
