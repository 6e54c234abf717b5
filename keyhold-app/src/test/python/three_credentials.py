"""The three means of authorization, as boto3 users meet them against two nodes of one Keyhold.

ThreeCredentialsTest runs this with /usr/bin/python3 (Debian's python3-boto3) after it made, in the
site's database, three credentials with their identity policies and three keys:

- the administrator (identity policies: the key store operations and key administration);
- the application (an identity policy that allows Encrypt and Decrypt with KEY_OWN and KEY_DENIED);
- the auditor (a read-only identity policy: kms:Describe*, kms:List*, kms:Get*);
- KEY_GRANTED and KEY_OWN have the default key policy (the account root, which delegates to identity
  policies); KEY_DENIED's policy also denies the application everything.

Everything comes from the environment (secrets never on a command line): NODE_A, NODE_B, REGION,
APP_ARN, KEY_GRANTED, KEY_OWN, KEY_DENIED, and <WHO>_ACCESS_KEY_ID / <WHO>_SECRET_ACCESS_KEY for
ADMIN, APP and AUDITOR. Each check prints "ok <name>"; the first that fails ends the run with a
non-zero exit and what it saw.
"""

import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENV = os.environ
CONTEXT = {"app": "billing", "tenant": "42"}
OTHER_CONTEXT = {"app": "payroll"}


def client(who, node):
    return boto3.client(
        "kms",
        endpoint_url=ENV[node],
        region_name=ENV["REGION"],
        aws_access_key_id=ENV[who + "_ACCESS_KEY_ID"],
        aws_secret_access_key=ENV[who + "_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}),
    )


def ok(name):
    print("ok " + name, flush=True)


def fail(name, why):
    print("FAILED " + name + ": " + why, flush=True)
    sys.exit(1)


def denied(name, call, reason):
    """The call must answer AccessDeniedException, its message ending with reason."""
    try:
        call()
    except ClientError as e:
        code = e.response["Error"]["Code"]
        message = e.response["Error"]["Message"]
        if code != "AccessDeniedException" or not message.endswith(reason):
            fail(name, "%s: %s" % (code, message))
        ok(name)
        return message
    fail(name, "allowed")


def allowed(call):
    try:
        call()
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] != "AccessDeniedException":
            raise
        return False


def within_a_second(name, condition):
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > 1.0:
            fail(name, "not within 1 s")
        time.sleep(0.02)
    ok(name)


def no_identity_policy(action):
    return "because no identity-based policy allows the kms:%s action" % action


admin_a, admin_b = client("ADMIN", "NODE_A"), client("ADMIN", "NODE_B")
app_a, app_b = client("APP", "NODE_A"), client("APP", "NODE_B")
auditor = client("AUDITOR", "NODE_B")
key_granted, key_own, key_denied = ENV["KEY_GRANTED"], ENV["KEY_OWN"], ENV["KEY_DENIED"]
app_arn = ENV["APP_ARN"]


def encrypt(c, key, context, tokens=()):
    return c.encrypt(KeyId=key, Plaintext=b"three means", EncryptionContext=context, GrantTokens=list(tokens))


# The application and a grant with an EncryptionContextSubset constraint.
# Node b now holds the key in its cache, without the grant to come: the token must bridge that.
denied("app without a grant", lambda: encrypt(app_b, key_granted, CONTEXT), no_identity_policy("Encrypt"))
grant = admin_a.create_grant(KeyId=key_granted, GranteePrincipal=app_arn, Operations=["Encrypt", "Decrypt"],
                             RetiringPrincipal=app_arn,
                             Constraints={"EncryptionContextSubset": {"app": "billing"}})
token = grant["GrantToken"]
blob = encrypt(app_b, key_granted, CONTEXT, [token])["CiphertextBlob"]
ok("a grant token works at once, on the other node")
if app_b.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT, GrantTokens=[token])["Plaintext"] != b"three means":
    fail("decrypt through the grant", "another plaintext")
ok("decrypt through the grant")
denied("the grant in another context", lambda: encrypt(app_b, key_granted, OTHER_CONTEXT, [token]),
       no_identity_policy("Encrypt"))
denied("the grant for GenerateDataKey", lambda: app_b.generate_data_key(
    KeyId=key_granted, KeySpec="AES_256", EncryptionContext=CONTEXT, GrantTokens=[token]),
       no_identity_policy("GenerateDataKey"))
within_a_second("the grant seen by the other node", lambda: allowed(lambda: encrypt(app_b, key_granted, CONTEXT)))
admin_a.revoke_grant(KeyId=key_granted, GrantId=grant["GrantId"])
within_a_second("revoked on one node, refused on the other",
                lambda: not allowed(lambda: encrypt(app_b, key_granted, CONTEXT)))

retired = admin_a.create_grant(KeyId=key_granted, GranteePrincipal=app_arn, Operations=["Encrypt"],
                               RetiringPrincipal=app_arn,
                               Constraints={"EncryptionContextSubset": {"app": "billing"}})
encrypt(app_b, key_granted, CONTEXT, [retired["GrantToken"]])
app_a.retire_grant(KeyId=key_granted, GrantId=retired["GrantId"])
within_a_second("retired on one node, refused on the other",
                lambda: not allowed(lambda: encrypt(app_b, key_granted, CONTEXT)))

# The application's identity policy: exactly the actions and keys it names.
own = encrypt(app_a, key_own, CONTEXT)["CiphertextBlob"]
app_b.decrypt(CiphertextBlob=own, EncryptionContext=CONTEXT)
ok("the identity policy's key and actions")
denied("an action the identity policy does not name",
       lambda: app_a.generate_data_key(KeyId=key_own, KeySpec="AES_256"), no_identity_policy("GenerateDataKey"))
denied("DescribeKey, not named either", lambda: app_a.describe_key(KeyId=key_own), no_identity_policy("DescribeKey"))
denied("CreateKey, not named either", lambda: app_a.create_key(), no_identity_policy("CreateKey"))
denied("a key the identity policy does not name", lambda: encrypt(app_a, key_granted, CONTEXT),
       no_identity_policy("Encrypt"))

# The auditor: DescribeKey and ListKeys, no crypto.
if auditor.describe_key(KeyId=key_own)["KeyMetadata"]["KeyId"] != key_own:
    fail("auditor DescribeKey", "another key")
listed = [k["KeyId"] for k in auditor.list_keys()["Keys"]]
if key_own not in listed:
    fail("auditor ListKeys", "missing " + key_own)
ok("auditor DescribeKey and ListKeys")
denied("auditor Encrypt", lambda: encrypt(auditor, key_own, CONTEXT), no_identity_policy("Encrypt"))
denied("auditor Decrypt", lambda: auditor.decrypt(CiphertextBlob=own, EncryptionContext=CONTEXT),
       no_identity_policy("Decrypt"))
denied("auditor GenerateDataKey", lambda: auditor.generate_data_key(KeyId=key_own, KeySpec="AES_256"),
       no_identity_policy("GenerateDataKey"))

# An explicit deny in the key policy overrides the identity policy and a grant.
admin_a.create_grant(KeyId=key_denied, GranteePrincipal=app_arn, Operations=["Encrypt"])
denied("the key policy's deny", lambda: encrypt(app_b, key_denied, CONTEXT),
       "with an explicit deny in a resource-based policy")

print("all checks passed", flush=True)
