#!/usr/bin/env bash
# A key store's whole life through the AWS CLI against a running Keyhold, as a user would drive it:
# create, describe, rename, connect, disconnect, delete; then a store with a KMS key in it:
# Encrypt/Decrypt/GenerateDataKey round trips with fileb:// files, errors the CLI reports, deletion
# scheduled, and the store that still holds the key refused deletion.
#
# Environment: KEYHOLD_ENDPOINT (http://127.0.0.1:PORT), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_DEFAULT_REGION, CLUSTER_ID and SECOND_CLUSTER_ID (two clusters no key store uses), TRUST_ANCHOR_FILE and
# SECOND_TRUST_ANCHOR_FILE (their PEMs), KMSUSER_PASSWORD_FILE (kmsuser's password on both, one line). The
# second cluster serves the second store: connecting the first rotated kmsuser's password on its cluster,
# as KMS does.
# The password reaches the CLI in a --cli-input-json file, never in the process arguments.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kms() { aws kms --endpoint-url "$KEYHOLD_ENDPOINT" --output json "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
step() { echo "== $*"; }

# CreateCustomKeyStore named $1 on cluster $2 with trust anchor file $3; prints the new store's id.
create_store() {
  python3 - "$work/create.json" "$1" "$2" "$3" <<PY
import json, os, sys
json.dump({"CustomKeyStoreName": sys.argv[2], "CloudHsmClusterId": sys.argv[3],
           "TrustAnchorCertificate": open(sys.argv[4]).read(),
           "KeyStorePassword": open(os.environ["KMSUSER_PASSWORD_FILE"]).read().strip()},
          os.fdopen(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w"))
PY
  kms create-custom-key-store --cli-input-json "file://$work/create.json" | field '["CustomKeyStoreId"]'
}

# ConnectCustomKeyStore $1 and wait until it leaves CONNECTING; it must end CONNECTED.
connect_store() {
  kms connect-custom-key-store --custom-key-store-id "$1" >/dev/null
  local state
  for _ in $(seq 1 300); do
    state=$(kms describe-custom-key-stores --custom-key-store-id "$1" | field '["CustomKeyStores"][0]["ConnectionState"]')
    [ "$state" = CONNECTING ] || break
    sleep 0.1
  done
  [ "$state" = CONNECTED ] || { echo "expected CONNECTED, got $state"; exit 1; }
}

step CreateCustomKeyStore
store=$(create_store cli-store "$CLUSTER_ID" "$TRUST_ANCHOR_FILE")
echo "store $store"

step DescribeCustomKeyStores
state=$(kms describe-custom-key-stores --custom-key-store-id "$store" | field '["CustomKeyStores"][0]["ConnectionState"]')
[ "$state" = DISCONNECTED ] || { echo "expected DISCONNECTED, got $state"; exit 1; }

step UpdateCustomKeyStore
kms update-custom-key-store --custom-key-store-id "$store" --new-custom-key-store-name cli-store-renamed >/dev/null
name=$(kms describe-custom-key-stores --custom-key-store-name cli-store-renamed | field '["CustomKeyStores"][0]["CustomKeyStoreId"]')
[ "$name" = "$store" ] || { echo "rename not visible"; exit 1; }

step ConnectCustomKeyStore, DisconnectCustomKeyStore, DeleteCustomKeyStore
connect_store "$store"
kms disconnect-custom-key-store --custom-key-store-id "$store" >/dev/null
kms delete-custom-key-store --custom-key-store-id "$store" >/dev/null
if kms describe-custom-key-stores --custom-key-store-id "$store" > "$work/out" 2> "$work/err"; then
  echo "the deleted store is still described"; exit 1
fi
grep -q CustomKeyStoreNotFoundException "$work/err" || { cat "$work/err"; exit 1; }

step A store on the second cluster, connected
store=$(create_store cli-store-with-keys "$SECOND_CLUSTER_ID" "$SECOND_TRUST_ANCHOR_FILE")
connect_store "$store"

step CreateKey
key=$(kms create-key --origin AWS_CLOUDHSM --custom-key-store-id "$store" --description "from the CLI" \
  | field '["KeyMetadata"]["KeyId"]')
echo "key $key"

step Encrypt and Decrypt with fileb://
head -c 3000 /dev/urandom > "$work/plain.bin"
kms encrypt --key-id "$key" --plaintext "fileb://$work/plain.bin" --encryption-context purpose=cli \
  --query CiphertextBlob --output text | base64 -d > "$work/cipher.bin"
kms decrypt --ciphertext-blob "fileb://$work/cipher.bin" --encryption-context purpose=cli \
  --query Plaintext --output text | base64 -d > "$work/back.bin"
cmp "$work/plain.bin" "$work/back.bin"

step Decrypt with another encryption context is refused
if kms decrypt --ciphertext-blob "fileb://$work/cipher.bin" --encryption-context purpose=other \
    > "$work/out" 2> "$work/err"; then
  echo "decrypt with the wrong context succeeded"; exit 1
fi
grep -q InvalidCiphertextException "$work/err" || { cat "$work/err"; exit 1; }

step GenerateDataKey
kms generate-data-key --key-id "$key" --key-spec AES_256 > "$work/datakey.json"
field '["CiphertextBlob"]' < "$work/datakey.json" | base64 -d > "$work/datakey.bin"
kms decrypt --ciphertext-blob "fileb://$work/datakey.bin" --query Plaintext --output text > "$work/datakey.plain"
[ "$(cat "$work/datakey.plain")" = "$(field '["Plaintext"]' < "$work/datakey.json")" ] \
  || { echo "data key round trip differs"; exit 1; }

step "CreateGrant to a principal of another account, only for one encryption context"
key_arn=$(kms describe-key --key-id "$key" | field '["KeyMetadata"]["Arn"]')
kms create-grant --key-id "$key" --grantee-principal "$MALLORY_ARN" --operations Encrypt Decrypt \
  --constraints '{"EncryptionContextSubset": {"purpose": "granted"}}' --name cli-grant > "$work/grant.json"
grant_id=$(field '["GrantId"]' < "$work/grant.json")
grant_token=$(field '["GrantToken"]' < "$work/grant.json")
as_grantee() { AWS_ACCESS_KEY_ID="$MALLORY_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$MALLORY_SECRET_ACCESS_KEY" kms "$@"; }
as_grantee encrypt --key-id "$key_arn" --plaintext "fileb://$work/plain.bin" --encryption-context purpose=granted \
  --grant-tokens "$grant_token" > /dev/null
if as_grantee encrypt --key-id "$key_arn" --plaintext "fileb://$work/plain.bin" --encryption-context purpose=other \
    > "$work/out" 2> "$work/err"; then
  echo "the grant allowed another encryption context"; exit 1
fi
grep -q AccessDeniedException "$work/err" || { cat "$work/err"; exit 1; }
kms list-grants --key-id "$key" | grep -q "$grant_id" || { echo "ListGrants does not list the grant"; exit 1; }

step "RevokeGrant ends the grantee's access"
kms revoke-grant --key-id "$key" --grant-id "$grant_id"
if as_grantee encrypt --key-id "$key_arn" --plaintext "fileb://$work/plain.bin" --encryption-context purpose=granted \
    > "$work/out" 2> "$work/err"; then
  echo "a revoked grant still allowed Encrypt"; exit 1
fi
grep -q AccessDeniedException "$work/err" || { cat "$work/err"; exit 1; }

step ScheduleKeyDeletion, then DeleteCustomKeyStore is refused while the key exists
kms schedule-key-deletion --key-id "$key" --pending-window-in-days 7 >/dev/null
kms disconnect-custom-key-store --custom-key-store-id "$store" >/dev/null
if kms delete-custom-key-store --custom-key-store-id "$store" > "$work/out" 2> "$work/err"; then
  echo "deleting a store that holds a key succeeded"; exit 1
fi
grep -q CustomKeyStoreHasCMKsException "$work/err" || { cat "$work/err"; exit 1; }

echo "OK: a key store's whole life ran through the AWS CLI"
