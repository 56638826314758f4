"""Drives Trent with the AWS CLI (v1), exactly as a user would type it.

Each command is a real `aws --endpoint-url URL kms ...` process; outputs are read as the user
sees them (JSON, `--output text`, a shell `| base64 -d` pipeline) and errors are asserted from
the CLI's exit code (255 for a service error in v1) and its stderr text.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid

from harness import CheckFailed, check, endpoint, end, eq, expect

URL = endpoint()
AWS = os.path.join(os.path.dirname(sys.executable), "aws")
if not os.path.exists(AWS):
    AWS = "aws"
WORK = tempfile.mkdtemp(prefix="trent-awscli-")
ARN_RE = re.compile(r"^arn:aws:kms:us-east-1:000000000000:key/([0-9a-f-]{36})$")
RUN = uuid.uuid4().hex[:8]
# AWS CLI v1 exits 255 when the service returns an error (v2 exits 254).
CLI_SERVICE_ERROR_RC = 255


def _env(secret: str = "test") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    empty = os.path.join(WORK, "empty")
    open(empty, "w").close()
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=empty,
        AWS_SHARED_CREDENTIALS_FILE=empty,
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    return env


ENV = _env()


def aws(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AWS, "--endpoint-url", URL, "kms", *args],
        env=env or ENV, capture_output=True, text=True, timeout=60, cwd=WORK,
    )


def ok_json(*args: str) -> dict:
    p = aws(*args)
    if p.returncode != 0:
        raise CheckFailed(f"`aws kms {' '.join(args)}` exited {p.returncode}: {p.stderr.strip()}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def ok_text(*args: str) -> str:
    p = aws(*args, "--output", "text")
    if p.returncode != 0:
        raise CheckFailed(f"`aws kms {' '.join(args)}` exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


def shell(cmd: str) -> bytes:
    """Runs a shell pipeline (as a user would) and returns its stdout bytes."""
    p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=ENV, capture_output=True, timeout=60, cwd=WORK)
    if p.returncode != 0:
        raise CheckFailed(f"`{cmd}` exited {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout


def fails_with(code: str, op: str, *args: str, env: dict | None = None) -> str:
    """Asserts the CLI reports service error `code` for operation `op` on stderr, and exits with
    the code AWS CLI v1 uses for a service error (255; v2 would use 254)."""
    p = aws(*args, env=env)
    expect(p.returncode != 0, f"`aws kms {' '.join(args)}` succeeded; expected {code}: {p.stdout.strip()}")
    expected = f"An error occurred ({code}) when calling the {op} operation"
    expect(expected in p.stderr, f"stderr lacks {expected!r}: {p.stderr.strip()!r}")
    eq(p.returncode, CLI_SERVICE_ERROR_RC, f"exit code (stderr {p.stderr.strip()!r})")
    return p.stderr


def state(key: str) -> str:
    return ok_text("describe-key", "--key-id", key, "--query", "KeyMetadata.KeyState")


def write(name: str, data: bytes) -> str:
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ----- checks ------------------------------------------------------------------------------

key_id = arn = None
with check("awscli.version"):
    p = subprocess.run([AWS, "--version"], capture_output=True, text=True, env=ENV, timeout=60)
    expect(p.returncode == 0 and "aws-cli/1." in (p.stdout + p.stderr), f"unexpected: {p.stdout}{p.stderr}")
    print(f"# {(p.stdout + p.stderr).strip()}")

with check("awscli.create-key"):
    out = ok_json("create-key", "--description", f"conformance awscli {RUN}",
                  "--tags", "TagKey=suite,TagValue=awscli")
    md = out["KeyMetadata"]
    arn, key_id = md["Arn"], md["KeyId"]
    m = ARN_RE.match(arn)
    expect(m is not None, f"Arn {arn!r} is not arn:aws:kms:us-east-1:000000000000:key/<uuid>")
    eq(m.group(1), key_id, "KeyId inside the Arn")
    eq(md["KeyState"], "Enabled", "KeyState")
    eq(md["Enabled"], True, "Enabled")
    eq(md["KeyUsage"], "ENCRYPT_DECRYPT", "KeyUsage")
    eq(md.get("KeySpec"), "SYMMETRIC_DEFAULT", "KeySpec")
    eq(md.get("Origin"), "AWS_KMS", "Origin")
    eq(md.get("KeyManager"), "CUSTOMER", "KeyManager")
    eq(md.get("AWSAccountId"), "000000000000", "AWSAccountId")
    eq(md.get("Description"), f"conformance awscli {RUN}", "Description")
    expect("SYMMETRIC_DEFAULT" in md.get("EncryptionAlgorithms", []), f"EncryptionAlgorithms {md.get('EncryptionAlgorithms')}")

if key_id is None:
    # Nothing below can run without a key; say so once rather than failing every check.
    end("test_awscli.py")

with check("awscli.describe-key"):
    for ref in (key_id, arn):
        md = ok_json("describe-key", "--key-id", ref)["KeyMetadata"]
        eq(md["Arn"], arn, f"Arn when described by {ref}")
    eq(state(key_id), "Enabled", "KeyState as --output text")

with check("awscli.list-keys"):
    keys = ok_json("list-keys")["Keys"]
    expect({"KeyId": key_id, "KeyArn": arn} in keys, f"{key_id} not in list-keys output ({len(keys)} keys)")

with check("awscli.encrypt-decrypt-fileb"):
    plaintext = os.urandom(200) + b"\x00\xff binary \xfe"
    write("pt.bin", plaintext)
    ct_b64 = ok_text("encrypt", "--key-id", key_id, "--plaintext", "fileb://pt.bin", "--query", "CiphertextBlob")
    write("ct.bin", base64.b64decode(ct_b64))
    got = shell(f"{shlex.quote(AWS)} --endpoint-url {URL} kms decrypt --ciphertext-blob fileb://ct.bin "
                "--query Plaintext --output text | base64 -d")
    eq(got, plaintext, "decrypted bytes")

with check("awscli.decrypt-reports-key-arn"):
    out = ok_json("decrypt", "--ciphertext-blob", "fileb://ct.bin")
    eq(out.get("KeyId"), arn, "Decrypt KeyId")
    eq(out.get("EncryptionAlgorithm"), "SYMMETRIC_DEFAULT", "EncryptionAlgorithm")

with check("awscli.encrypt-text-plaintext"):
    # awscli v1 base64-encodes a plain string argument for a blob member itself.
    ct_b64 = ok_text("encrypt", "--key-id", key_id, "--plaintext", "hello trent", "--query", "CiphertextBlob")
    write("ct2.bin", base64.b64decode(ct_b64))
    got = base64.b64decode(ok_text("decrypt", "--ciphertext-blob", "fileb://ct2.bin", "--query", "Plaintext"))
    eq(got, b"hello trent", "decrypted text")

with check("awscli.encryption-context"):
    ct_b64 = ok_text("encrypt", "--key-id", key_id, "--plaintext", "fileb://pt.bin",
                     "--encryption-context", "purpose=conformance,run=" + RUN, "--query", "CiphertextBlob")
    write("ct-ctx.bin", base64.b64decode(ct_b64))
    got = base64.b64decode(ok_text("decrypt", "--ciphertext-blob", "fileb://ct-ctx.bin",
                                   "--encryption-context", "purpose=conformance,run=" + RUN, "--query", "Plaintext"))
    eq(got, plaintext, "decrypted bytes with the right context")
    fails_with("InvalidCiphertextException", "Decrypt", "decrypt", "--ciphertext-blob", "fileb://ct-ctx.bin")
    fails_with("InvalidCiphertextException", "Decrypt", "decrypt", "--ciphertext-blob", "fileb://ct-ctx.bin",
               "--encryption-context", "purpose=other,run=" + RUN)

with check("awscli.generate-data-key"):
    out = ok_json("generate-data-key", "--key-id", key_id, "--key-spec", "AES_256")
    dk = base64.b64decode(out["Plaintext"])
    eq(len(dk), 32, "data key length")
    eq(out["KeyId"], arn, "KeyId")
    write("dk.bin", base64.b64decode(out["CiphertextBlob"]))
    got = base64.b64decode(ok_text("decrypt", "--ciphertext-blob", "fileb://dk.bin", "--query", "Plaintext"))
    eq(got, dk, "decrypted data key")
    out = ok_json("generate-data-key", "--key-id", key_id, "--number-of-bytes", "64")
    eq(len(base64.b64decode(out["Plaintext"])), 64, "NumberOfBytes=64 data key length")

with check("awscli.generate-data-key-without-plaintext"):
    out = ok_json("generate-data-key-without-plaintext", "--key-id", key_id, "--key-spec", "AES_128")
    expect("Plaintext" not in out, "response carries a Plaintext")
    write("dk2.bin", base64.b64decode(out["CiphertextBlob"]))
    got = base64.b64decode(ok_text("decrypt", "--ciphertext-blob", "fileb://dk2.bin", "--query", "Plaintext"))
    eq(len(got), 16, "AES_128 data key length after decrypt")

with check("awscli.generate-random"):
    out = ok_json("generate-random", "--number-of-bytes", "48")
    eq(len(base64.b64decode(out["Plaintext"])), 48, "random length")

with check("awscli.disable-key"):
    p = aws("disable-key", "--key-id", key_id)
    eq(p.returncode, 0, f"disable-key exit code ({p.stderr.strip()})")
    eq(p.stdout.strip(), "", "disable-key output")
    eq(state(key_id), "Disabled", "KeyState")
    eq(ok_json("describe-key", "--key-id", key_id)["KeyMetadata"]["Enabled"], False, "Enabled")

with check("awscli.encrypt-disabled-key"):
    fails_with("DisabledException", "Encrypt", "encrypt", "--key-id", key_id, "--plaintext", "fileb://pt.bin")

with check("awscli.decrypt-disabled-key"):
    fails_with("DisabledException", "Decrypt", "decrypt", "--ciphertext-blob", "fileb://ct.bin")

with check("awscli.enable-key"):
    ok_json("enable-key", "--key-id", key_id)
    eq(state(key_id), "Enabled", "KeyState")
    ok_text("encrypt", "--key-id", key_id, "--plaintext", "fileb://pt.bin", "--query", "CiphertextBlob")

with check("awscli.schedule-key-deletion-window-validation"):
    fails_with("ValidationException", "ScheduleKeyDeletion", "schedule-key-deletion", "--key-id", key_id,
               "--pending-window-in-days", "6")
    eq(state(key_id), "Enabled", "KeyState after a refused schedule")

with check("awscli.schedule-key-deletion"):
    out = ok_json("schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    eq(out.get("KeyId"), arn, "KeyId")
    eq(out.get("KeyState"), "PendingDeletion", "KeyState")
    eq(out.get("PendingWindowInDays"), 7, "PendingWindowInDays")
    expect("DeletionDate" in out, f"no DeletionDate in {out}")
    md = ok_json("describe-key", "--key-id", key_id)["KeyMetadata"]
    eq(md["KeyState"], "PendingDeletion", "described KeyState")
    expect("DeletionDate" in md, "described key has no DeletionDate")

with check("awscli.encrypt-pending-deletion"):
    fails_with("KMSInvalidStateException", "Encrypt", "encrypt", "--key-id", key_id, "--plaintext", "fileb://pt.bin")

with check("awscli.cancel-key-deletion"):
    out = ok_json("cancel-key-deletion", "--key-id", key_id)
    eq(out.get("KeyId"), arn, "KeyId")
    eq(state(key_id), "Disabled", "KeyState after cancel")
    fails_with("DisabledException", "Encrypt", "encrypt", "--key-id", key_id, "--plaintext", "fileb://pt.bin")

with check("awscli.enable-after-cancel"):
    ok_json("enable-key", "--key-id", key_id)
    eq(state(key_id), "Enabled", "KeyState after enable")

alias = f"alias/conformance-cli-{RUN}"
with check("awscli.create-alias-and-encrypt"):
    p = aws("create-alias", "--alias-name", alias, "--target-key-id", key_id)
    eq(p.returncode, 0, f"create-alias exit code ({p.stderr.strip()})")
    ct_b64 = ok_text("encrypt", "--key-id", alias, "--plaintext", "fileb://pt.bin", "--query", "CiphertextBlob")
    write("ct-alias.bin", base64.b64decode(ct_b64))
    out = ok_json("decrypt", "--ciphertext-blob", "fileb://ct-alias.bin")
    eq(base64.b64decode(out["Plaintext"]), plaintext, "decrypted bytes")
    eq(out["KeyId"], arn, "Decrypt KeyId (the key, not the alias)")
    eq(ok_json("describe-key", "--key-id", alias)["KeyMetadata"]["Arn"], arn, "describe by alias")
    alias_arn = f"arn:aws:kms:us-east-1:000000000000:{alias}"
    eq(ok_json("describe-key", "--key-id", alias_arn)["KeyMetadata"]["Arn"], arn, "describe by alias ARN")

with check("awscli.list-aliases"):
    aliases = ok_json("list-aliases", "--key-id", key_id)["Aliases"]
    mine = [a for a in aliases if a.get("AliasName") == alias]
    expect(len(mine) == 1, f"{alias} not in {aliases}")
    eq(mine[0].get("TargetKeyId"), key_id, "TargetKeyId")
    eq(mine[0].get("AliasArn"), f"arn:aws:kms:us-east-1:000000000000:{alias}", "AliasArn")
    everything = ok_json("list-aliases")["Aliases"]
    expect(any(a.get("AliasName") == alias for a in everything), "alias missing from unfiltered list-aliases")

with check("awscli.create-alias-duplicate"):
    fails_with("AlreadyExistsException", "CreateAlias", "create-alias", "--alias-name", alias, "--target-key-id", key_id)

with check("awscli.update-and-delete-alias"):
    other = ok_json("create-key", "--description", f"conformance awscli other {RUN}")["KeyMetadata"]
    ok_json("update-alias", "--alias-name", alias, "--target-key-id", other["KeyId"])
    eq(ok_json("describe-key", "--key-id", alias)["KeyMetadata"]["KeyId"], other["KeyId"], "alias target after update")
    ok_json("delete-alias", "--alias-name", alias)
    fails_with("NotFoundException", "DescribeKey", "describe-key", "--key-id", alias)

with check("awscli.tag-resource-and-list-resource-tags"):
    p = aws("tag-resource", "--key-id", key_id, "--tags", "TagKey=env,TagValue=ci", "TagKey=owner,TagValue=trent team")
    eq(p.returncode, 0, f"tag-resource exit code ({p.stderr.strip()})")
    # --no-paginate: the CLI's auto-pagination would hide Truncated.
    out = ok_json("list-resource-tags", "--key-id", key_id, "--no-paginate")
    tags = {t["TagKey"]: t["TagValue"] for t in out["Tags"]}
    eq(tags, {"suite": "awscli", "env": "ci", "owner": "trent team"}, "tags")
    eq(out.get("Truncated"), False, "Truncated")
    ok_json("untag-resource", "--key-id", key_id, "--tag-keys", "env")
    tags = {t["TagKey"]: t["TagValue"] for t in ok_json("list-resource-tags", "--key-id", key_id)["Tags"]}
    eq(tags, {"suite": "awscli", "owner": "trent team"}, "tags after untag-resource")

with check("awscli.update-key-description"):
    ok_json("update-key-description", "--key-id", key_id, "--description", "renamed by awscli")
    eq(ok_text("describe-key", "--key-id", key_id, "--query", "KeyMetadata.Description"), "renamed by awscli", "Description")

with check("awscli.key-policy"):
    eq(ok_json("list-key-policies", "--key-id", key_id).get("PolicyNames"), ["default"], "PolicyNames")
    policy = json.loads(ok_text("get-key-policy", "--key-id", key_id, "--policy-name", "default", "--query", "Policy"))
    expect("Statement" in policy, f"default policy has no Statement: {policy}")

with check("awscli.describe-unknown-key"):
    fails_with("NotFoundException", "DescribeKey", "describe-key", "--key-id", str(uuid.uuid4()))

with check("awscli.wrong-secret-rejected"):
    p = aws("list-keys", env=_env(secret="not-the-secret"))
    eq(p.returncode, CLI_SERVICE_ERROR_RC, f"exit code (stderr {p.stderr.strip()!r})")
    expect("InvalidSignatureException" in p.stderr or "UnrecognizedClientException" in p.stderr,
           f"stderr: {p.stderr.strip()!r}")

with check("awscli.unissued-session-token-rejected"):
    # The development credential is a long-term key: a session token with it is one Trent never
    # issued, refused as AWS refuses it (a stray AWS_SESSION_TOKEN in a CI environment).
    env = _env()
    env["AWS_SESSION_TOKEN"] = "FwoGZXIvYXdzEXAMPLEtoken"
    fails_with("UnrecognizedClientException", "ListKeys", "list-keys", env=env)

# ----- keys checked with openssl, the way AWS's guides tell users to do it -----------------------

OPENSSL = shutil.which("openssl")


def openssl(cmd: str) -> bytes:
    expect(OPENSSL is not None, "openssl is not installed (the Debian package openssl provides it)")
    return shell(f"openssl {cmd}")


def key_id_of(*create_args: str) -> str:
    return ok_json("create-key", "--description", f"conformance awscli {RUN}", *create_args)["KeyMetadata"]["KeyId"]


def b64_to_file(text: str, name: str) -> str:
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(base64.b64decode(text))
    return path


with check("awscli.byok-wrapped-with-openssl"):
    # Import key material wrapped by openssl (RSAES_OAEP_SHA_256), then import new material and
    # rotate to it: the two-material flow of AWS's "import new key material" guide.
    key_id = key_id_of("--origin", "EXTERNAL")

    def import_new(material: str, *extra: str) -> dict:
        params = ok_json(
            "get-parameters-for-import", "--key-id", key_id,
            "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_3072",
        )
        public = b64_to_file(params["PublicKey"], "wrapping.der")
        token = b64_to_file(params["ImportToken"], "token.bin")
        openssl(f"rand -out {material} 32")
        openssl(
            f"pkeyutl -encrypt -in {material} -out {material}.wrapped -inkey {public} -keyform DER -pubin "
            "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256"
        )
        return ok_json(
            "import-key-material", "--key-id", key_id,
            "--encrypted-key-material", f"fileb://{material}.wrapped", "--import-token", f"fileb://{token}",
            "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE", *extra,
        )

    first = import_new("first.bin")["KeyMaterialId"]
    eq(ok_text("describe-key", "--key-id", key_id, "--query", "KeyMetadata.KeyState"), "Enabled", "state")
    shell("printf 'under the first material' > plain1.txt")
    blob1 = ok_text("encrypt", "--key-id", key_id, "--plaintext", "fileb://plain1.txt", "--query", "CiphertextBlob")
    second = import_new("second.bin", "--import-type", "NEW_KEY_MATERIAL")["KeyMaterialId"]
    ok_json("rotate-key-on-demand", "--key-id", key_id)
    eq(
        ok_text("describe-key", "--key-id", key_id, "--query", "KeyMetadata.CurrentKeyMaterialId"),
        second, "CurrentKeyMaterialId after the rotation",
    )
    states = ok_json("list-key-rotations", "--key-id", key_id, "--include-key-material", "ALL_KEY_MATERIAL")
    eq(
        [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in states["Rotations"]],
        [(first, "NON_CURRENT"), (second, "CURRENT")], "materials",
    )
    old = b64_to_file(blob1, "blob1.bin")
    plain = ok_text("decrypt", "--ciphertext-blob", f"fileb://{old}", "--query", "Plaintext")
    eq(base64.b64decode(plain), b"under the first material", "old ciphertext after the rotation")

for spec, algorithm, verify in (
    ("ECC_NIST_P256", "ECDSA_SHA_256", "dgst -sha256 -verify {pem} -signature {sig} {msg}"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", "dgst -sha256 -verify {pem} -signature {sig} {msg}"),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", "pkeyutl -verify -pubin -inkey {pem} -rawin -in {msg} -sigfile {sig}"),
):
    with check(f"awscli.sign-verified-by-openssl.{spec}"):
        key_id = key_id_of("--key-spec", spec, "--key-usage", "SIGN_VERIFY")
        msg = os.path.join(WORK, f"{spec}.msg")
        with open(msg, "wb") as f:
            f.write(f"signed by {spec} {RUN}".encode())
        sig = b64_to_file(
            ok_text("sign", "--key-id", key_id, "--message", f"fileb://{msg}", "--message-type", "RAW",
                    "--signing-algorithm", algorithm, "--query", "Signature"),
            f"{spec}.sig",
        )
        der = b64_to_file(ok_text("get-public-key", "--key-id", key_id, "--query", "PublicKey"), f"{spec}.der")
        pem = os.path.join(WORK, f"{spec}.pem")
        openssl(f"pkey -pubin -inform DER -in {der} -out {pem}")
        out = openssl(verify.format(pem=pem, sig=sig, msg=msg))
        expect(b"Verified" in out or b"Signature Verified Successfully" in out, f"openssl said {out!r}")
        # And a changed message does not verify.
        with open(msg, "ab") as f:
            f.write(b"!")
        p = subprocess.run(["bash", "-c", "openssl " + verify.format(pem=pem, sig=sig, msg=msg)],
                           capture_output=True, timeout=60, cwd=WORK)
        expect(p.returncode != 0, "openssl verified a signature over a changed message")

with check("awscli.cloudtrail-lookup-events-finds-a-boto3-encrypt"):
    import boto3

    kms = boto3.client(
        "kms", endpoint_url=URL, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    arn = kms.create_key(Description=f"audited {RUN}")["KeyMetadata"]["Arn"]
    encrypted = kms.encrypt(KeyId=arn, Plaintext=f"audit {RUN}".encode())
    p = subprocess.run(
        [AWS, "--endpoint-url", URL, "cloudtrail", "lookup-events", "--lookup-attributes",
         f"AttributeKey=ResourceName,AttributeValue={arn}"],
        env=ENV, capture_output=True, text=True, timeout=60, cwd=WORK,
    )
    expect(p.returncode == 0, f"lookup-events exited {p.returncode}: {p.stderr.strip()}")
    events = json.loads(p.stdout)["Events"]
    eq([e["EventName"] for e in events], ["Encrypt", "CreateKey"], "events of the key, newest first")
    record = json.loads(events[0]["CloudTrailEvent"])
    eq(record["requestID"], encrypted["ResponseMetadata"]["RequestId"], "requestID of the Encrypt")
    expect("Boto3" in record["userAgent"], f"userAgent {record['userAgent']!r}")
    eq(record["responseElements"], None, "Encrypt's responseElements")
    eq(events[0]["Resources"], [{"ResourceType": "AWS::KMS::Key", "ResourceName": arn}], "Resources")
    expect(f"audit {RUN}" not in p.stdout, "the plaintext reached the trail")

end("test_awscli.py")
