"""HTTPS: the aws CLI (`--ca-bundle`) and boto3 (`verify=`) against `trent serve --tls-cert/--tls-key`
with a certificate from `trent dev-cert`, as the README tells users to run it.

Environment (set by run.sh): TRENT_TLS_URL (https://localhost:PORT), TRENT_TLS_CA (the dev CA's PEM).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile

import boto3
import botocore.exceptions
from botocore.config import Config

from harness import check, end, eq, expect

URL = os.environ["TRENT_TLS_URL"]
CA = os.environ["TRENT_TLS_CA"]
AWS = os.path.join(os.path.dirname(sys.executable), "aws")
WORK = tempfile.mkdtemp(prefix="trent-tls-")


def aws(*args: str, ca: str | None = CA) -> subprocess.CompletedProcess:
    cmd = [AWS, "--endpoint-url", URL, "--output", "json"]
    if ca:
        cmd += ["--ca-bundle", ca]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)


with check("tls.awscli-ca-bundle"):
    p = aws("kms", "create-key", "--description", "over https")
    eq(p.returncode, 0, p.stderr)
    key = json.loads(p.stdout)["KeyMetadata"]["KeyId"]
    secret = os.path.join(WORK, "secret.bin")
    with open(secret, "wb") as f:
        f.write(b"sent over TLS")
    p = aws("kms", "encrypt", "--key-id", key, "--plaintext", f"fileb://{secret}",
            "--query", "CiphertextBlob", "--output", "text")
    eq(p.returncode, 0, p.stderr)
    blob = os.path.join(WORK, "blob.bin")
    with open(blob, "wb") as f:
        f.write(base64.b64decode(p.stdout.strip()))
    p = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}", "--query", "Plaintext", "--output", "text")
    eq(p.returncode, 0, p.stderr)
    eq(base64.b64decode(p.stdout.strip()), b"sent over TLS", "decrypted plaintext")

with check("tls.awscli-untrusted-refused"):
    # Without the dev CA the CLI must refuse the certificate (it trusts only the system roots).
    p = aws("kms", "list-keys", ca=None)
    expect(p.returncode != 0, f"an untrusted certificate was accepted: {p.stdout}")
    expect("SSL" in p.stderr or "certificate" in p.stderr.lower(), p.stderr)

with check("tls.boto3-verify"):
    kms = boto3.client("kms", endpoint_url=URL, region_name="us-east-1", verify=CA,
                       aws_access_key_id="test", aws_secret_access_key="test")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"boto3 over https")["CiphertextBlob"]
    eq(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"boto3 over https", "decrypted plaintext")

with check("tls.boto3-untrusted-refused"):
    kms = boto3.client("kms", endpoint_url=URL, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=Config(retries={"max_attempts": 1}))
    try:
        kms.list_keys()
    except botocore.exceptions.SSLError:
        pass
    else:
        raise AssertionError("boto3 accepted a certificate it does not trust")

end("test_tls.py")
