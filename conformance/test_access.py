"""Access control with real clients: boto3 and the AWS CLI as two principals against one key.

The server runs with the configuration run.sh writes: the development credential `test`/`test`
(root of 000000000000), `AKIDALICE` acting as user alice with an identity policy allowing kms:*,
and `AKIDBOB` acting as user bob with none. Alice may use a key through its default policy; Bob
is refused with AWS's AccessDeniedException sentence, then allowed through a grant; and
`aws sts get-caller-identity` says who each is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import boto3
from botocore.exceptions import ClientError

from harness import check, endpoint, end, eq, expect

URL = endpoint()
ACCOUNT = "000000000000"
ALICE = ("AKIDALICE", "alicesecret", f"arn:aws:iam::{ACCOUNT}:user/alice")
BOB = ("AKIDBOB", "bobsecret", f"arn:aws:iam::{ACCOUNT}:user/bob")
AWS = os.path.join(os.path.dirname(sys.executable), "aws")
if not os.path.exists(AWS):
    AWS = "aws"
WORK = tempfile.mkdtemp(prefix="trent-access-")


def kms(key_id: str, secret: str):
    return boto3.client(
        "kms", endpoint_url=URL, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
    )


def cli(key_id: str, secret: str, *args: str) -> subprocess.CompletedProcess:
    empty = os.path.join(WORK, "empty")
    open(empty, "w").close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=empty, AWS_SHARED_CREDENTIALS_FILE=empty, AWS_MAX_ATTEMPTS="1",
        AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="",
    )
    return subprocess.run([AWS, "--endpoint-url", URL, *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=WORK)


root = kms("test", "test")
alice = kms(ALICE[0], ALICE[1])
bob = kms(BOB[0], BOB[1])
key = root.create_key()["KeyMetadata"]
key_id, key_arn = key["KeyId"], key["Arn"]

with check("boto3 alice encrypts and decrypts through the default policy and her identity policy"):
    blob = alice.encrypt(KeyId=key_id, Plaintext=b"hi")["CiphertextBlob"]
    eq(alice.decrypt(CiphertextBlob=blob)["Plaintext"], b"hi", "plaintext")

with check("boto3 bob is refused with AccessDeniedException naming him, the action and the key"):
    try:
        bob.encrypt(KeyId=key_id, Plaintext=b"hi")
        expect(False, "bob's Encrypt succeeded")
    except ClientError as e:
        eq(e.response["Error"]["Code"], "AccessDeniedException", "code")
        eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 400, "status")
        eq(e.response["Error"]["Message"],
           f"User: {BOB[2]} is not authorized to perform: kms:Encrypt on resource: {key_arn} "
           "because no identity-based policy allows the kms:Encrypt action", "message")

with check("aws cli bob is refused too (exit 255, AccessDeniedException on stderr)"):
    r = cli(BOB[0], BOB[1], "kms", "encrypt", "--key-id", key_id, "--plaintext", "aGk=")
    eq(r.returncode, 255, "exit code")
    expect("AccessDeniedException" in r.stderr and BOB[2] in r.stderr, r.stderr)

grant_token = ""
with check("aws cli alice grants bob Encrypt; boto3 bob encrypts with the grant token"):
    r = cli(ALICE[0], ALICE[1], "kms", "create-grant", "--key-id", key_id,
            "--grantee-principal", BOB[2], "--operations", "Encrypt", "RetireGrant")
    eq(r.returncode, 0, r.stderr)
    grant = json.loads(r.stdout)
    grant_token = grant["GrantToken"]
    out = bob.encrypt(KeyId=key_id, Plaintext=b"hi", GrantTokens=[grant_token])
    eq(out["KeyId"], key_arn, "KeyId")
    listed = root.list_grants(KeyId=key_id)["Grants"]
    eq([g["GrantId"] for g in listed], [grant["GrantId"]], "ListGrants")
    eq(listed[0]["IssuingAccount"], f"arn:aws:iam::{ACCOUNT}:root", "IssuingAccount")

with check("boto3 bob retires his grant and is refused again"):
    bob.retire_grant(GrantToken=grant_token)
    try:
        bob.encrypt(KeyId=key_id, Plaintext=b"hi")
        expect(False, "Encrypt succeeded after the grant was retired")
    except ClientError as e:
        eq(e.response["Error"]["Code"], "AccessDeniedException", "code")

with check("boto3 a bad grant token is InvalidGrantTokenException"):
    try:
        alice.encrypt(KeyId=key_id, Plaintext=b"hi", GrantTokens=["bm90IGEgdG9rZW4="])
        expect(False, "accepted")
    except ClientError as e:
        eq(e.response["Error"]["Code"], "InvalidGrantTokenException", "code")

with check("aws sts get-caller-identity names each principal"):
    for (key_id_, secret, arn) in [ALICE, BOB, ("test", "test", f"arn:aws:iam::{ACCOUNT}:root")]:
        r = cli(key_id_, secret, "sts", "get-caller-identity")
        eq(r.returncode, 0, r.stderr)
        who = json.loads(r.stdout)
        eq(who["Arn"], arn, "Arn")
        eq(who["Account"], ACCOUNT, "Account")

with check("boto3 sts get_caller_identity"):
    sts = boto3.client("sts", endpoint_url=URL, region_name="us-east-1",
                       aws_access_key_id=ALICE[0], aws_secret_access_key=ALICE[1])
    who = sts.get_caller_identity()
    eq(who["Arn"], ALICE[2], "Arn")
    expect(who["UserId"].startswith("AIDA"), who["UserId"])

end("test_access.py")
