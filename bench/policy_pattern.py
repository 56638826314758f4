#!/usr/bin/env python3
"""The cost of one Encrypt under a key policy whose condition pattern nearly matches its
encryption context everywhere (BENCHMARK-ANALYSIS.md, fourteenth session):

    python3 bench/policy_pattern.py BIN PORT N

starts `BIN serve` on 127.0.0.1:PORT with a fresh data directory, creates a key whose policy
denies Encrypt when `kms:EncryptionContext:x` is like `*` + `a?` x 16,000 + `b` (32 KB), sends
one Encrypt with the context value `a` x N, and prints its wall time, the server's CPU time for
it (from /proc), and the answer. Needs boto3 (conformance/.venv has it).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

binary, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = tempfile.mkdtemp(prefix="trent-policy-pattern-")
server = subprocess.Popen(
    [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data],
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    env={**os.environ, "TRENT_LOG": "error"},
)
try:
    server.stdout.readline()  # "listening on ..."
    kms = boto3.client(
        "kms",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=600),
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"StringLike": {"kms:EncryptionContext:x": "*" + "a?" * 16000 + "b"}}},
        ],
    }
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]

    def cpu():
        fields = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    cpu0, t0 = cpu(), time.time()
    try:
        kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"x": "a" * n})
        answer = "ok"
    except Exception as e:  # the answer is what is measured
        answer = f"{type(e).__name__}: {str(e)[:100]}"
    print(f"{binary} N={n}: {time.time() - t0:.3f} s wall, {cpu() - cpu0:.2f} s CPU: {answer}")
finally:
    server.kill()
    server.wait()
    shutil.rmtree(data, ignore_errors=True)
