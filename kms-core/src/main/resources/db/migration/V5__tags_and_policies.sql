-- Tags on KMS keys, and each key's one key policy (named "default"). Both go with the key.
CREATE TABLE key_tags (
  key_id     VARCHAR(36)  NOT NULL REFERENCES kms_keys (key_id) ON DELETE CASCADE,
  tag_key    VARCHAR(128) NOT NULL,
  tag_value  VARCHAR(256) NOT NULL,
  PRIMARY KEY (key_id, tag_key)
);

CREATE TABLE key_policies (
  key_id       VARCHAR(36)    NOT NULL PRIMARY KEY REFERENCES kms_keys (key_id) ON DELETE CASCADE,
  policy_name  VARCHAR(128)   NOT NULL,
  policy       VARCHAR(32768) NOT NULL
);
