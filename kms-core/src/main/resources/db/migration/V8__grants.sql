-- Grants on KMS keys (CreateGrant): who may use a key for which operations, under which encryption
-- context constraints, besides whom its policy allows. A grant goes with its key.
CREATE TABLE key_grants (
  grant_id            VARCHAR(64)    NOT NULL PRIMARY KEY,
  key_id              VARCHAR(36)    NOT NULL REFERENCES kms_keys (key_id) ON DELETE CASCADE,
  grant_name          VARCHAR(256),
  grantee_principal   VARCHAR(256)   NOT NULL,
  retiring_principal  VARCHAR(256),
  -- The grant's operations, comma-separated, in the order CreateGrant gave them.
  operations          VARCHAR(1024)  NOT NULL,
  -- The constraints as JSON ({"EncryptionContextEquals": {...}} or ...Subset), or null.
  grant_constraints   VARCHAR(32768),
  issuing_account     VARCHAR(256)   NOT NULL,
  creation_date       BIGINT         NOT NULL
);

CREATE INDEX key_grants_by_key ON key_grants (key_id);
CREATE INDEX key_grants_by_retiring_principal ON key_grants (retiring_principal);
