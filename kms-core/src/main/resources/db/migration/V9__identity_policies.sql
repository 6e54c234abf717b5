-- The identity policies of principals (IAM's inline policies of a user or role), seen by every node.
CREATE TABLE identity_policies (
  principal_arn  VARCHAR(2048)  NOT NULL,
  policy_name    VARCHAR(128)   NOT NULL,
  document       VARCHAR(10240) NOT NULL,
  PRIMARY KEY (principal_arn, policy_name)
);

-- A credential's administrator flag becomes the identity policy it stood for: its principal may run the
-- custom key store operations (IdentityPolicies.ADMINISTRATOR_DOCUMENT).
INSERT INTO identity_policies (principal_arn, policy_name, document)
SELECT DISTINCT principal_arn, 'KeyholdAdministrator', '{"Version": "2012-10-17", "Statement": [{
  "Sid": "KeyStoreAdministration", "Effect": "Allow",
  "Action": ["kms:CreateCustomKeyStore", "kms:DescribeCustomKeyStores", "kms:UpdateCustomKeyStore",
             "kms:ConnectCustomKeyStore", "kms:DisconnectCustomKeyStore", "kms:DeleteCustomKeyStore"],
  "Resource": "*"}]}'
FROM credentials WHERE administrator;

-- Kept, no longer read: nodes of the release before still read it during a rolling upgrade. New
-- credentials leave it false.
ALTER TABLE credentials ALTER COLUMN administrator SET DEFAULT FALSE;
