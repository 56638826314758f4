"""Drives Trent with the AWS Encryption SDK for Python: envelope encryption of a 10 MiB stream.

The SDK's KMS master key provider builds its own boto3 clients from a botocore session, so the
endpoint reaches it the way a user would configure it: the standard `AWS_ENDPOINT_URL_KMS`
environment variable (honoured by botocore since 1.31). The SDK makes GenerateDataKey, Encrypt
and Decrypt calls with the encryption context, and checks that Decrypt answers with the full key
ARN it asked for, so this also checks those response shapes.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid

from harness import CheckFailed, check, endpoint, end, eq, expect

URL = endpoint()
# Set before any botocore session exists; the SDK's clients pick it up.
os.environ["AWS_ENDPOINT_URL_KMS"] = URL
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)

import aws_encryption_sdk  # noqa: E402
import boto3  # noqa: E402
import botocore.session  # noqa: E402
from aws_encryption_sdk import CommitmentPolicy  # noqa: E402
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError  # noqa: E402
from aws_encryption_sdk.key_providers.kms import DiscoveryFilter  # noqa: E402
from botocore.config import Config  # noqa: E402

RUN = uuid.uuid4().hex[:8]
SIZE = 10 * 1024 * 1024
CONTEXT = {"purpose": "conformance", "run": RUN, "unicode": "héllo ✓"}

print(f"# aws-encryption-sdk {aws_encryption_sdk.__version__}")


def botocore_session() -> botocore.session.Session:
    s = botocore.session.Session()
    s.set_credentials("test", "test")
    s.set_config_variable("region", "us-east-1")
    return s


def strict(*arns: str) -> aws_encryption_sdk.StrictAwsKmsMasterKeyProvider:
    return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=list(arns), botocore_session=botocore_session())


kms = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1").client(
    "kms", endpoint_url=URL, config=Config(retries={"total_max_attempts": 1}))
sdk = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def encrypt_stream(provider, data: bytes, context: dict) -> tuple[bytes, object]:
    out = io.BytesIO()
    with sdk.stream(mode="e", source=io.BytesIO(data), key_provider=provider, encryption_context=context) as enc:
        for chunk in enc:
            out.write(chunk)
        header = enc.header
    return out.getvalue(), header


def decrypt_stream(provider, ciphertext: bytes) -> tuple[str, int, object]:
    """Streams the plaintext out in chunks; returns its SHA-256, its length and the header."""
    h, n = hashlib.sha256(), 0
    with sdk.stream(mode="d", source=io.BytesIO(ciphertext), key_provider=provider) as dec:
        for chunk in dec:
            h.update(chunk)
            n += len(chunk)
        header = dec.header
    return h.hexdigest(), n, header


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


arn = arn2 = ciphertext = header = None
with check("esdk.setup-keys"):
    arn = kms.create_key(Description=f"conformance esdk {RUN}")["KeyMetadata"]["Arn"]
    arn2 = kms.create_key(Description=f"conformance esdk second {RUN}")["KeyMetadata"]["Arn"]

if arn is None:
    end("test_encryption_sdk.py")

with check("esdk.endpoint-from-env"):
    p = strict(arn)
    p.add_regional_client("us-east-1")
    eq(p._regional_clients["us-east-1"].meta.endpoint_url, URL, "the SDK's KMS client endpoint")

data = os.urandom(SIZE)
data_sha = hashlib.sha256(data).hexdigest()

with check("esdk.encrypt-10MiB-stream"):
    ciphertext, header = encrypt_stream(strict(arn), data, CONTEXT)
    expect(len(ciphertext) > SIZE, f"ciphertext is {len(ciphertext)} bytes")
    expect(header.algorithm.is_committing(), f"algorithm {header.algorithm} does not commit to its key")
    edks = list(header.encrypted_data_keys)
    eq(len(edks), 1, "encrypted data keys")
    eq(edks[0].key_provider.provider_id, "aws-kms", "EDK provider id")
    eq(edks[0].key_provider.key_info, arn.encode(), "EDK key info (the key ARN)")

with check("esdk.encryption-context-in-header"):
    expect(header is not None, "no header (encryption failed)")
    for k, v in CONTEXT.items():
        eq(header.encryption_context.get(k), v, f"header encryption context [{k}]")

with check("esdk.decrypt-10MiB-stream"):
    expect(ciphertext is not None, "no ciphertext (encryption failed)")
    sha, n, dheader = decrypt_stream(strict(arn), ciphertext)
    eq(n, SIZE, "plaintext length")
    eq(sha, data_sha, "plaintext SHA-256")
    for k, v in CONTEXT.items():
        eq(dheader.encryption_context.get(k), v, f"decrypted header encryption context [{k}]")

with check("esdk.decrypt-discovery-provider"):
    expect(ciphertext is not None, "no ciphertext (encryption failed)")
    discovery = aws_encryption_sdk.DiscoveryAwsKmsMasterKeyProvider(
        botocore_session=botocore_session(),
        discovery_filter=DiscoveryFilter(account_ids=["000000000000"], partition="aws"),
    )
    sha, n, _ = decrypt_stream(discovery, ciphertext)
    eq(sha, data_sha, "plaintext SHA-256")

with check("esdk.multi-key-message"):
    small = os.urandom(100_000)
    ct2, h2 = encrypt_stream(strict(arn, arn2), small, {"multi": "yes"})
    eq(sorted(e.key_provider.key_info for e in h2.encrypted_data_keys), sorted([arn.encode(), arn2.encode()]), "EDKs")
    # Only the second key (wrapped by KMS Encrypt rather than GenerateDataKey) may decrypt it.
    sha, n, _ = decrypt_stream(strict(arn2), ct2)
    eq(sha, hashlib.sha256(small).hexdigest(), "plaintext via the second key")

with check("esdk.decrypt-with-disabled-key-fails"):
    # The SDK raises DecryptKeyError and logs the KMS error that caused it.
    expect(ciphertext is not None, "no ciphertext (encryption failed)")
    capture = _Capture()
    sdk_log = logging.getLogger("aws_encryption_sdk")
    sdk_log.addHandler(capture)
    sdk_log.propagate = False
    kms.disable_key(KeyId=arn)
    try:
        try:
            decrypt_stream(strict(arn), ciphertext)
        except AWSEncryptionSDKClientError as e:
            causes = [type(r.exc_info[1]).__name__ for r in capture.records if r.exc_info]
            expect("DisabledException" in causes, f"SDK error {e!r}; logged causes {causes}")
        else:
            raise CheckFailed("decrypt succeeded with the key disabled")
    finally:
        kms.enable_key(KeyId=arn)
        sdk_log.removeHandler(capture)

end("test_encryption_sdk.py")
