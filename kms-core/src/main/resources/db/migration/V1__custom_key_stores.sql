-- Portable SQL only: H2 (embedded default) and PostgreSQL run the same statements.
-- Times are epoch milliseconds; sealed secrets are Base64 text (see MasterKey).

CREATE TABLE custom_key_stores (
  id                           VARCHAR(64)   NOT NULL PRIMARY KEY,
  name                         VARCHAR(256)  NOT NULL UNIQUE,
  cluster_id                   VARCHAR(24)   NOT NULL,
  trust_anchor_certificate     VARCHAR(5000) NOT NULL,
  connection_state             VARCHAR(16)   NOT NULL,
  connection_error_code        VARCHAR(64),
  creation_date                BIGINT        NOT NULL,
  -- The kmsuser password the store knows, and the one being rotated to (written before any HSM changes).
  password_version             INTEGER       NOT NULL,
  sealed_password              VARCHAR(512)  NOT NULL,
  sealed_pending_password      VARCHAR(512)
);

-- Which password version each HSM is known to hold while a rotation is under way.
CREATE TABLE kmsuser_password_on_hsm (
  key_store_id      VARCHAR(64) NOT NULL REFERENCES custom_key_stores (id) ON DELETE CASCADE,
  hsm_id            VARCHAR(32) NOT NULL,
  password_version  INTEGER     NOT NULL,
  PRIMARY KEY (key_store_id, hsm_id)
);
