"""Drives Trent with boto3: the key lifecycle, the key-state error table, and paginators.

Errors are asserted as boto3 users see them: `e.response['Error']['Code']`, the HTTP status in
`ResponseMetadata`, and the modeled exception class on `client.exceptions`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import CheckFailed, check, endpoint, end, eq, expect

URL = endpoint()
RUN = uuid.uuid4().hex[:8]
ACCOUNT = "000000000000"
ARN_RE = re.compile(r"^arn:aws:kms:us-east-1:000000000000:key/([0-9a-f-]{36})$")

session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
kms = session.client(
    "kms",
    endpoint_url=URL,
    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30),
)
print(f"# boto3 {boto3.__version__}, botocore {botocore.__version__}")


# AWS sends these without a message member; botocore then shows an empty Error.Message.
BARE = {"InvalidCiphertextException", "KMSInvalidSignatureException", "KMSInvalidMacException"}


def raises(code: str, fn, **kwargs) -> ClientError:
    """Calls fn(**kwargs), which must fail with AWS error `code`, HTTP 400, and the modeled class."""
    try:
        out = fn(**kwargs)
    except ClientError as e:
        got = e.response.get("Error", {}).get("Code")
        eq(got, code, f"{fn.__name__} error code (message {e.response.get('Error', {}).get('Message')!r})")
        eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 400, f"{fn.__name__} HTTP status")
        modeled = getattr(kms.exceptions, code, None)
        if modeled is not None:
            expect(isinstance(e, modeled), f"{type(e).__name__} is not kms.exceptions.{code}")
        message = e.response.get("Error", {}).get("Message")
        if code in BARE:
            eq(message or "", "", f"{code} carries no message, as AWS sends it")
        else:
            expect(message, f"{code} has an empty message")
        return e
    out.pop("ResponseMetadata", None)
    raise CheckFailed(f"{fn.__name__} succeeded; expected {code}: {out!r}")


def new_key(description: str, **kwargs) -> dict:
    return kms.create_key(Description=f"{description} {RUN}", **kwargs)["KeyMetadata"]


def key_state(key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


# ----- lifecycle ---------------------------------------------------------------------------

key = None
with check("boto3.create-key"):
    before = dt.datetime.now(dt.timezone.utc)
    key = new_key("conformance boto3", Tags=[{"TagKey": "suite", "TagValue": "boto3"}])
    m = ARN_RE.match(key["Arn"])
    expect(m is not None, f"Arn {key['Arn']!r}")
    eq(m.group(1), key["KeyId"], "KeyId in Arn")
    eq(key["KeyState"], "Enabled", "KeyState")
    eq(key["Enabled"], True, "Enabled")
    eq(key["AWSAccountId"], ACCOUNT, "AWSAccountId")
    eq(key["KeyUsage"], "ENCRYPT_DECRYPT", "KeyUsage")
    eq(key["KeySpec"], "SYMMETRIC_DEFAULT", "KeySpec")
    eq(key.get("CustomerMasterKeySpec"), "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec")
    eq(key["Origin"], "AWS_KMS", "Origin")
    eq(key["KeyManager"], "CUSTOMER", "KeyManager")
    eq(key.get("EncryptionAlgorithms"), ["SYMMETRIC_DEFAULT"], "EncryptionAlgorithms")
    eq(key.get("MultiRegion"), False, "MultiRegion")
    created = key["CreationDate"]
    expect(isinstance(created, dt.datetime), f"CreationDate is {type(created).__name__}, not a datetime")
    expect(created.tzinfo is not None, "CreationDate is naive")
    expect(abs((created - before).total_seconds()) < 300, f"CreationDate {created} is not about now ({before})")

if key is None:
    end("test_boto3.py")
KEY, ARN = key["KeyId"], key["Arn"]

with check("boto3.response-metadata"):
    r = kms.describe_key(KeyId=KEY)
    md = r["ResponseMetadata"]
    eq(md["HTTPStatusCode"], 200, "HTTPStatusCode")
    expect(md.get("RequestId"), f"no RequestId (x-amzn-requestid) in {md}")

with check("boto3.describe-key-forms"):
    for ref in (KEY, ARN):
        eq(kms.describe_key(KeyId=ref)["KeyMetadata"]["Arn"], ARN, f"describe by {ref}")

with check("boto3.encrypt-decrypt"):
    pt = os.urandom(4096)
    out = kms.encrypt(KeyId=KEY, Plaintext=pt, EncryptionContext={"app": "boto3", "run": RUN})
    eq(out["KeyId"], ARN, "Encrypt KeyId")
    eq(out.get("EncryptionAlgorithm"), "SYMMETRIC_DEFAULT", "Encrypt EncryptionAlgorithm")
    ct = out["CiphertextBlob"]
    expect(isinstance(ct, bytes) and len(ct) > len(pt), f"CiphertextBlob {type(ct).__name__} len {len(ct)}")
    back = kms.decrypt(CiphertextBlob=ct, EncryptionContext={"run": RUN, "app": "boto3"})
    eq(back["Plaintext"], pt, "Plaintext")
    eq(back["KeyId"], ARN, "Decrypt KeyId")
    back = kms.decrypt(CiphertextBlob=ct, KeyId=ARN, EncryptionContext={"run": RUN, "app": "boto3"})
    eq(back["Plaintext"], pt, "Plaintext when KeyId is given")

with check("boto3.plaintext-too-long"):
    raises("ValidationException", kms.encrypt, KeyId=KEY, Plaintext=b"x" * 4097)

with check("boto3.decrypt-wrong-encryption-context"):
    raises("InvalidCiphertextException", kms.decrypt, CiphertextBlob=ct, EncryptionContext={"app": "boto3", "run": "other"})
    raises("InvalidCiphertextException", kms.decrypt, CiphertextBlob=ct)

with check("boto3.decrypt-garbage-ciphertext"):
    # Random bytes whose first byte is no ciphertext format: 2 in 256 random blobs would
    # otherwise parse as naming a (missing) key, which is another case than garbage.
    raises("InvalidCiphertextException", kms.decrypt, CiphertextBlob=b"\xff" + os.urandom(199))

other = None
with check("boto3.decrypt-with-different-key-id"):
    other = new_key("conformance boto3 other")
    raises("IncorrectKeyException", kms.decrypt, CiphertextBlob=ct, KeyId=other["KeyId"],
           EncryptionContext={"app": "boto3", "run": RUN})

with check("boto3.re-encrypt"):
    expect(other is not None, "no second key")
    out = kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext={"app": "boto3", "run": RUN},
                         DestinationKeyId=other["KeyId"], DestinationEncryptionContext={"moved": "yes"})
    eq(out["SourceKeyId"], ARN, "SourceKeyId")
    eq(out["KeyId"], other["Arn"], "KeyId")
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"moved": "yes"})
    eq(back["Plaintext"], pt, "Plaintext after ReEncrypt")
    eq(back["KeyId"], other["Arn"], "Decrypt KeyId after ReEncrypt")

with check("boto3.generate-data-key"):
    out = kms.generate_data_key(KeyId=KEY, KeySpec="AES_256", EncryptionContext={"dk": "1"})
    eq(len(out["Plaintext"]), 32, "Plaintext length")
    eq(out["KeyId"], ARN, "KeyId")
    eq(kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"dk": "1"})["Plaintext"], out["Plaintext"], "decrypted data key")
    eq(len(kms.generate_data_key(KeyId=KEY, NumberOfBytes=1)["Plaintext"]), 1, "NumberOfBytes=1")
    raises("ValidationException", kms.generate_data_key, KeyId=KEY)  # neither KeySpec nor NumberOfBytes

with check("boto3.generate-data-key-without-plaintext"):
    out = kms.generate_data_key_without_plaintext(KeyId=KEY, KeySpec="AES_128")
    expect("Plaintext" not in out, "response has Plaintext")
    eq(len(kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]), 16, "decrypted length")

with check("boto3.generate-random"):
    a, b = (kms.generate_random(NumberOfBytes=32)["Plaintext"] for _ in range(2))
    expect(len(a) == 32 and a != b, "random bytes")

with check("boto3.update-key-description"):
    kms.update_key_description(KeyId=KEY, Description="renamed")
    eq(kms.describe_key(KeyId=KEY)["KeyMetadata"]["Description"], "renamed", "Description")

with check("boto3.tags"):
    kms.tag_resource(KeyId=KEY, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": ""}])
    kms.tag_resource(KeyId=KEY, Tags=[{"TagKey": "a", "TagValue": "2"}])  # overwrite
    kms.untag_resource(KeyId=KEY, TagKeys=["suite"])
    out = kms.list_resource_tags(KeyId=KEY)
    eq({t["TagKey"]: t["TagValue"] for t in out["Tags"]}, {"a": "2", "b": ""}, "tags")
    eq(out["Truncated"], False, "Truncated")

with check("boto3.key-policy"):
    eq(kms.list_key_policies(KeyId=KEY)["PolicyNames"], ["default"], "PolicyNames")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "root", "Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}],
    }
    kms.put_key_policy(KeyId=KEY, PolicyName="default", Policy=json.dumps(policy))
    eq(json.loads(kms.get_key_policy(KeyId=KEY, PolicyName="default")["Policy"]), policy, "policy round trip")

# ----- the key-state table -----------------------------------------------------------------

with check("boto3.disabled-key-errors"):
    kms.disable_key(KeyId=KEY)
    eq(key_state(KEY), "Disabled", "KeyState")
    raises("DisabledException", kms.encrypt, KeyId=KEY, Plaintext=b"x")
    raises("DisabledException", kms.decrypt, CiphertextBlob=ct, EncryptionContext={"app": "boto3", "run": RUN})
    raises("DisabledException", kms.generate_data_key, KeyId=KEY, KeySpec="AES_256")
    raises("DisabledException", kms.generate_data_key_without_plaintext, KeyId=KEY, KeySpec="AES_256")

with check("boto3.disabled-key-management-ok"):
    kms.disable_key(KeyId=KEY)  # disabling a disabled key is fine
    kms.describe_key(KeyId=KEY)
    kms.list_resource_tags(KeyId=KEY)
    kms.enable_key(KeyId=KEY)
    eq(key_state(KEY), "Enabled", "KeyState after enable")
    kms.enable_key(KeyId=KEY)  # enabling an enabled key is fine

with check("boto3.cancel-deletion-of-enabled-key"):
    raises("KMSInvalidStateException", kms.cancel_key_deletion, KeyId=KEY)

with check("boto3.schedule-deletion-window-validation"):
    raises("ValidationException", kms.schedule_key_deletion, KeyId=KEY, PendingWindowInDays=31)
    raises("ValidationException", kms.schedule_key_deletion, KeyId=KEY, PendingWindowInDays=6)

doomed = None
with check("boto3.schedule-key-deletion"):
    doomed = new_key("conformance boto3 doomed")
    dct = kms.encrypt(KeyId=doomed["KeyId"], Plaintext=b"doomed")["CiphertextBlob"]
    before = dt.datetime.now(dt.timezone.utc)
    out = kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    eq(out["KeyId"], doomed["Arn"], "KeyId")
    eq(out["KeyState"], "PendingDeletion", "KeyState")
    eq(out["PendingWindowInDays"], 7, "PendingWindowInDays")
    days = (out["DeletionDate"] - before).total_seconds() / 86400
    expect(6.9 < days < 7.1, f"DeletionDate {out['DeletionDate']} is {days:.3f} days away, not 7")
    md = kms.describe_key(KeyId=doomed["KeyId"])["KeyMetadata"]
    eq(md["KeyState"], "PendingDeletion", "described KeyState")
    eq(md["Enabled"], False, "described Enabled")

with check("boto3.pending-deletion-key-errors"):
    expect(doomed is not None, "no key pending deletion")
    d = doomed["KeyId"]
    raises("KMSInvalidStateException", kms.encrypt, KeyId=d, Plaintext=b"x")
    raises("KMSInvalidStateException", kms.decrypt, CiphertextBlob=dct)
    raises("KMSInvalidStateException", kms.generate_data_key, KeyId=d, KeySpec="AES_256")
    raises("KMSInvalidStateException", kms.enable_key, KeyId=d)
    raises("KMSInvalidStateException", kms.disable_key, KeyId=d)
    raises("KMSInvalidStateException", kms.schedule_key_deletion, KeyId=d, PendingWindowInDays=7)

with check("boto3.cancel-key-deletion"):
    out = kms.cancel_key_deletion(KeyId=doomed["KeyId"])
    eq(out["KeyId"], doomed["Arn"], "KeyId")
    md = kms.describe_key(KeyId=doomed["KeyId"])["KeyMetadata"]
    eq(md["KeyState"], "Disabled", "KeyState after cancel")
    expect("DeletionDate" not in md, f"DeletionDate still set: {md.get('DeletionDate')}")
    raises("DisabledException", kms.encrypt, KeyId=doomed["KeyId"], Plaintext=b"x")
    kms.enable_key(KeyId=doomed["KeyId"])
    eq(kms.decrypt(CiphertextBlob=dct)["Plaintext"], b"doomed", "decrypt after cancel + enable")

with check("boto3.pending-import-key"):
    ext = kms.create_key(Origin="EXTERNAL", Description=f"conformance boto3 external {RUN}")["KeyMetadata"]
    eq(ext["Origin"], "EXTERNAL", "Origin")
    eq(ext["KeyState"], "PendingImport", "KeyState")
    eq(ext["Enabled"], False, "Enabled")
    e = ext["KeyId"]
    raises("KMSInvalidStateException", kms.encrypt, KeyId=e, Plaintext=b"x")
    raises("KMSInvalidStateException", kms.generate_data_key, KeyId=e, KeySpec="AES_256")
    raises("KMSInvalidStateException", kms.generate_data_key_without_plaintext, KeyId=e, KeySpec="AES_256")
    raises("KMSInvalidStateException", kms.enable_key, KeyId=e)
    raises("KMSInvalidStateException", kms.disable_key, KeyId=e)
    # (Decrypt cannot be exercised: no ciphertext can exist for a key with no key material.)

with check("boto3.not-found"):
    raises("NotFoundException", kms.describe_key, KeyId=str(uuid.uuid4()))
    raises("NotFoundException", kms.describe_key, KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{uuid.uuid4()}")
    raises("NotFoundException", kms.encrypt, KeyId=str(uuid.uuid4()), Plaintext=b"x")
    raises("NotFoundException", kms.describe_key, KeyId=f"alias/does-not-exist-{RUN}")

with check("boto3.dry-run"):
    raises("DryRunOperationException", kms.encrypt, KeyId=KEY, Plaintext=b"x", DryRun=True)

with check("boto3.validation-bounds"):
    raises("ValidationException", kms.list_keys, Limit=1001)
    raises("ValidationException", kms.generate_data_key, KeyId=KEY, KeySpec="AES_256", NumberOfBytes=32)
    raises("ValidationException", kms.generate_data_key, KeyId=KEY, NumberOfBytes=1025)
    raises("ValidationException", kms.generate_random, NumberOfBytes=1025)
    raises("TagException", kms.tag_resource, KeyId=KEY, Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
    raises("MalformedPolicyDocumentException", kms.put_key_policy, KeyId=KEY, PolicyName="default", Policy="not json")

with check("boto3.pending-deletion-targets"):
    expect(doomed is not None, "no key to schedule")
    gone = new_key("conformance boto3 gone")
    kms.schedule_key_deletion(KeyId=gone["KeyId"], PendingWindowInDays=30)
    raises("KMSInvalidStateException", kms.create_alias, AliasName=f"alias/conformance-boto3-gone-{RUN}", TargetKeyId=gone["KeyId"])
    raises("KMSInvalidStateException", kms.re_encrypt, CiphertextBlob=dct, DestinationKeyId=gone["KeyId"])
    eq(kms.list_resource_tags(KeyId=gone["KeyId"])["Tags"], [], "tags of a key pending deletion are still listable")

with check("boto3.unsupported-operation"):
    # Not served by Trent (custom key stores): the error must still be a well-formed, modeled KMS error.
    raises("UnsupportedOperationException", kms.describe_custom_key_stores)

with check("boto3.concurrent-encrypt-decrypt"):
    import concurrent.futures

    def round_trip(i: int) -> bool:
        blob = kms.encrypt(KeyId=KEY, Plaintext=f"message {i}".encode(), EncryptionContext={"i": str(i)})["CiphertextBlob"]
        return kms.decrypt(CiphertextBlob=blob, EncryptionContext={"i": str(i)})["Plaintext"] == f"message {i}".encode()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(200)))
    eq(results.count(True), 200, "round trips that came back intact out of 200 from 8 threads")

# ----- aliases and paginators --------------------------------------------------------------

with check("boto3.aliases"):
    name = f"alias/conformance-boto3-{RUN}"
    kms.create_alias(AliasName=name, TargetKeyId=KEY)
    raises("AlreadyExistsException", kms.create_alias, AliasName=name, TargetKeyId=KEY)
    eq(kms.encrypt(KeyId=name, Plaintext=b"via alias")["KeyId"], ARN, "Encrypt via alias KeyId")
    raises("ValidationException", kms.create_alias, AliasName=f"no-prefix-{RUN}", TargetKeyId=KEY)
    kms.update_alias(AliasName=name, TargetKeyId=other["KeyId"])
    eq(kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"], other["KeyId"], "target after update_alias")
    kms.delete_alias(AliasName=name)
    raises("NotFoundException", kms.delete_alias, AliasName=name)

with check("boto3.list-keys-paginator"):
    made = {new_key(f"conformance boto3 page {i}")["KeyId"] for i in range(4)}

    def all_keys() -> set:
        return {k["KeyId"] for p in kms.get_paginator("list_keys").paginate() for k in p["Keys"]}

    # Other clients create keys concurrently (none are deleted within a run), so compare with
    # listings taken before and after: before <= paged <= after.
    before = all_keys()
    pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}))
    seen = [k["KeyId"] for p in pages for k in p["Keys"]]
    expect(all(len(p["Keys"]) <= 2 for p in pages), f"page sizes {[len(p['Keys']) for p in pages]}")
    expect(len(pages) >= 3, f"only {len(pages)} pages for {len(seen)} keys")
    eq(len(seen), len(set(seen)), "no key listed twice")
    expect(made | {KEY} <= set(seen), f"missing from pages: {made - set(seen)}")
    expect(all(p["Truncated"] for p in pages[:-1]) and not pages[-1]["Truncated"], "Truncated flags")
    expect(all("NextMarker" in p for p in pages[:-1]), "NextMarker missing on a truncated page")
    after = all_keys()
    expect(before <= set(seen) <= after, f"paged listing is not between the listings before and after: "
           f"missing {before - set(seen)}, extra {set(seen) - after}")

with check("boto3.list-keys-bad-marker"):
    raises("InvalidMarkerException", kms.list_keys, Limit=2, Marker="not-a-marker")

with check("boto3.list-aliases-paginator"):
    names = {f"alias/conformance-boto3-page-{RUN}-{i}" for i in range(5)}
    for n in names:
        kms.create_alias(AliasName=n, TargetKeyId=KEY)
    pages = list(kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 2}))
    seen = [a["AliasName"] for p in pages for a in p["Aliases"]]
    expect(all(len(p["Aliases"]) <= 2 for p in pages), f"page sizes {[len(p['Aliases']) for p in pages]}")
    eq(len(seen), len(set(seen)), "no alias listed twice")
    expect(names <= set(seen), f"missing: {names - set(seen)}")
    by_key = [a for p in kms.get_paginator("list_aliases").paginate(KeyId=KEY, PaginationConfig={"PageSize": 2})
              for a in p["Aliases"]]
    eq({a["AliasName"] for a in by_key}, names, "aliases filtered by KeyId")
    expect(all(a["TargetKeyId"] == KEY for a in by_key), "TargetKeyId")
    expect(all(isinstance(a.get("CreationDate"), dt.datetime) for a in by_key), "alias CreationDate is not a timestamp")

with check("boto3.list-resource-tags-paginated"):
    kms.tag_resource(KeyId=KEY, Tags=[{"TagKey": f"t{i}", "TagValue": str(i)} for i in range(5)])
    first = kms.list_resource_tags(KeyId=KEY, Limit=2)
    eq(len(first["Tags"]), 2, "first page size")
    eq(first["Truncated"], True, "Truncated")
    rest, marker = [], first["NextMarker"]
    while marker:
        page = kms.list_resource_tags(KeyId=KEY, Limit=2, Marker=marker)
        rest += page["Tags"]
        marker = page.get("NextMarker") if page["Truncated"] else None
    keys = [t["TagKey"] for t in first["Tags"] + rest]
    eq(sorted(keys), sorted(["a", "b"] + [f"t{i}" for i in range(5)]), "all tags across pages")

with check("boto3.ml-kem-encapsulate-decapsulate"):
    kem = new_key("conformance boto3 ml-kem", KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")
    eq(kem.get("EncapsulationAlgorithms"), ["ML_KEM"], "EncapsulationAlgorithms")
    sealed = kms.encapsulate(KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM")
    eq(sealed["EncapsulationAlgorithm"], "ML_KEM", "EncapsulationAlgorithm")
    eq(len(sealed["SharedSecret"]), 32, "SharedSecret length")
    eq(len(sealed["SharedSecretCiphertextBlob"]), 1088, "ML_KEM_768 ciphertext length")
    opened = kms.decapsulate(
        KeyId=kem["Arn"], SharedSecretCiphertextBlob=sealed["SharedSecretCiphertextBlob"], EncapsulationAlgorithm="ML_KEM"
    )
    eq(opened["SharedSecret"], sealed["SharedSecret"], "decapsulated shared secret")
    eq(opened["KeyId"], kem["Arn"], "KeyId")
    raises(
        "InvalidCiphertextException",
        kms.decapsulate,
        KeyId=kem["KeyId"],
        SharedSecretCiphertextBlob=sealed["SharedSecretCiphertextBlob"][:-1],
        EncapsulationAlgorithm="ML_KEM",
    )
    raises("InvalidKeyUsageException", kms.encapsulate, KeyId=KEY, EncapsulationAlgorithm="ML_KEM")
    raises("DryRunOperationException", kms.encapsulate, KeyId=kem["KeyId"], EncapsulationAlgorithm="ML_KEM", DryRun=True)

with check("boto3.multi-region-keys"):
    west = session.client(
        "kms",
        region_name="eu-west-1",
        endpoint_url=URL,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    )
    primary = new_key("conformance boto3 mrk", MultiRegion=True)
    expect(re.fullmatch(r"mrk-[0-9a-f]{32}", primary["KeyId"]), f"multi-Region key id {primary['KeyId']!r}")
    eq(primary["MultiRegion"], True, "MultiRegion")
    eq(primary["MultiRegionConfiguration"]["MultiRegionKeyType"], "PRIMARY", "MultiRegionKeyType")
    replica = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    eq(replica["KeyId"], primary["KeyId"], "the replica shares the key id")
    eq(replica["Arn"], primary["Arn"].replace("us-east-1", "eu-west-1"), "replica ARN")
    config = west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
    eq(config["MultiRegionKeyType"], "REPLICA", "the copy in eu-west-1 is a replica")
    eq(config["PrimaryKey"], {"Arn": primary["Arn"], "Region": "us-east-1"}, "PrimaryKey")
    blob = kms.encrypt(KeyId=primary["KeyId"], Plaintext=b"across regions")["CiphertextBlob"]
    eq(west.decrypt(CiphertextBlob=blob)["Plaintext"], b"across regions", "decrypted by the replica")
    raises("UnsupportedOperationException", west.replicate_key, KeyId=primary["KeyId"], ReplicaRegion="us-west-2")
    raises("AlreadyExistsException", kms.replicate_key, KeyId=primary["KeyId"], ReplicaRegion="eu-west-1")
    kms.update_primary_region(KeyId=primary["Arn"], PrimaryRegion="eu-west-1")
    eq(
        west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY",
        "eu-west-1 is primary after UpdatePrimaryRegion",
    )
end("test_boto3.py")
