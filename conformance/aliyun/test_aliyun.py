"""Alibaba Cloud's own Python SDKs against a live Trent.

    python conformance/aliyun/test_aliyun.py http://127.0.0.1:4599     (or TRENT_URL=...)

Drives `alibabacloud-kms20160120` with each of its signature schemes (ACS3-HMAC-SHA256, the
default; HMAC-SHA1 RPC with signature_algorithm='v2'; ACS4 with signature_version='v4') and the
legacy `aliyun-python-sdk-kms` (HMAC-SHA1 RPC), against the development credential (test/test,
account 000000000000). Signatures, public keys and import wrapping are checked with
`cryptography` (a dependency of the SDK), not with anything of Trent's. Prints one `PASS name` or `FAIL name: reason` line per check
and `END test_aliyun.py` when it reaches its end; exits non-zero if any check failed.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import traceback
import uuid
from contextlib import contextmanager

# The Tea SDK honours proxy variables; a local server must be reached directly.
for _v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)

from alibabacloud_kms20160120 import models as m  # noqa: E402
from alibabacloud_kms20160120.client import Client  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402
from aliyunsdkcore.acs_exception.exceptions import ServerException  # noqa: E402
from aliyunsdkcore.client import AcsClient  # noqa: E402
from aliyunsdkkms.request.v20160120 import (  # noqa: E402
    CreateKeyRequest,
    DecryptRequest,
    DescribeKeyRequest,
    DisableKeyRequest,
    EncryptRequest,
    ListTagResourcesRequest,
    ScheduleKeyDeletionRequest,
    SetDeletionProtectionRequest,
    TagResourcesRequest,
)

REGION = "cn-hangzhou"
ACCOUNT = "000000000000"
FAILED = 0


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text[:600] + ("..." if len(text) > 600 else "")


@contextmanager
def check(name: str):
    global FAILED
    try:
        yield
    except Exception as e:  # noqa: BLE001 - a check reports whatever went wrong
        FAILED += 1
        if os.environ.get("CONFORMANCE_VERBOSE"):
            traceback.print_exc()
        print(f"FAIL {name}: {_one_line(f'{type(e).__name__}: {e}')}", flush=True)
    else:
        print(f"PASS {name}", flush=True)


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def error_of(e: Exception) -> tuple[str | None, int | None]:
    """(code, HTTP status) of an SDK error, whichever SDK and signature path raised it."""
    if isinstance(e, ServerException):
        return e.get_error_code(), e.get_http_status()
    data = getattr(e, "data", None) or {}
    return getattr(e, "code", None), getattr(e, "status_code", None) or data.get("statusCode")


def expect_error(call, code: str, status: int) -> None:
    try:
        call()
    except Exception as e:  # noqa: BLE001
        got = error_of(e)
        expect(got == (code, status), f"expected {code}/{status}, got {got}")
        return
    raise AssertionError(f"expected {code}/{status}, but the call succeeded")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tea(host: str, **extra) -> Client:
    return Client(
        Config(
            access_key_id=extra.pop("access_key_id", "test"),
            access_key_secret=extra.pop("access_key_secret", "test"),
            endpoint=host,
            protocol="http",
            **extra,
        )
    )


def run_tea(host: str) -> None:
    kms = tea(host)
    key = None
    with check("tea CreateKey returns Alibaba's KeyMetadata"):
        r = kms.create_key(
            m.CreateKeyRequest(
                description="conformance ~*!'() /+&= 中文",
                key_spec="Aliyun_AES_256",
                key_usage="ENCRYPT/DECRYPT",
                enable_automatic_rotation=False,
                tags=json.dumps([{"TagKey": "env", "TagValue": "test"}]),
            )
        )
        meta = r.body.key_metadata
        key = meta.key_id
        expect(r.body.request_id, "no RequestId")
        expect(meta.arn == f"acs:kms:{REGION}:{ACCOUNT}:key/{key}", meta.arn)
        expect(meta.key_state == "Enabled", meta.key_state)
        expect(meta.key_spec == "Aliyun_AES_256", meta.key_spec)
        expect(meta.origin == "Aliyun_KMS", meta.origin)
        expect(meta.protection_level == "SOFTWARE", meta.protection_level)
        expect(meta.description == "conformance ~*!'() /+&= 中文", meta.description)
        expect(meta.primary_key_version, "no PrimaryKeyVersion")

    with check("tea DescribeKey"):
        meta = kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata
        expect(meta.key_id == key and meta.creator == ACCOUNT, str(meta.to_map()))

    blob = None
    with check("tea Encrypt/Decrypt with EncryptionContext"):
        ctx = {"purpose": "conformance", "n": "1"}
        r = kms.encrypt(m.EncryptRequest(key_id=key, plaintext=b64(b"hello"), encryption_context=ctx)).body
        blob = r.ciphertext_blob
        expect(r.key_id == key and r.key_version_id, str(r.to_map()))
        d = kms.decrypt(m.DecryptRequest(ciphertext_blob=blob, encryption_context=ctx)).body
        expect(base64.b64decode(d.plaintext) == b"hello", d.plaintext)
        expect(d.key_version_id == r.key_version_id, "KeyVersionId differs")

    with check("tea Decrypt with the wrong context is refused"):
        expect_error(lambda: kms.decrypt(m.DecryptRequest(ciphertext_blob=blob)), "InvalidParameter", 400)

    with check("tea GenerateDataKey and Decrypt agree"):
        r = kms.generate_data_key(m.GenerateDataKeyRequest(key_id=key, key_spec="AES_128")).body
        expect(len(base64.b64decode(r.plaintext)) == 16, "not 16 bytes")
        d = kms.decrypt(m.DecryptRequest(ciphertext_blob=r.ciphertext_blob)).body
        expect(d.plaintext == r.plaintext, "data key differs")

    with check("tea GenerateDataKeyWithoutPlaintext"):
        r = kms.generate_data_key_without_plaintext(
            m.GenerateDataKeyWithoutPlaintextRequest(key_id=key, number_of_bytes=24)
        ).body
        d = kms.decrypt(m.DecryptRequest(ciphertext_blob=r.ciphertext_blob)).body
        expect(len(base64.b64decode(d.plaintext)) == 24, "not 24 bytes")

    other = kms.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
    with check("tea ReEncrypt"):
        r = kms.re_encrypt(
            m.ReEncryptRequest(
                ciphertext_blob=blob,
                destination_key_id=other,
                source_encryption_context={"purpose": "conformance", "n": "1"},
            )
        ).body
        expect(r.key_id == other, r.key_id)
        d = kms.decrypt(m.DecryptRequest(ciphertext_blob=r.ciphertext_blob)).body
        expect(base64.b64decode(d.plaintext) == b"hello", "round trip")

    with check("tea ListKeyVersions/DescribeKeyVersion"):
        r = kms.list_key_versions(m.ListKeyVersionsRequest(key_id=key)).body
        expect(r.total_count == 1, str(r.to_map()))
        vid = r.key_versions.key_version[0].key_version_id
        v = kms.describe_key_version(m.DescribeKeyVersionRequest(key_id=key, key_version_id=vid)).body
        expect(v.key_version.key_version_id == vid, str(v.to_map()))

    alias = f"alias/conformance-{uuid.uuid4().hex[:8]}"
    with check("tea aliases"):
        kms.create_alias(m.CreateAliasRequest(alias_name=alias, key_id=key))
        kms.encrypt(m.EncryptRequest(key_id=alias, plaintext=b64(b"x")))
        r = kms.list_aliases_by_key_id(m.ListAliasesByKeyIdRequest(key_id=key)).body
        expect([a.alias_name for a in r.aliases.alias] == [alias], str(r.to_map()))
        kms.update_alias(m.UpdateAliasRequest(alias_name=alias, key_id=other))
        r = kms.list_aliases(m.ListAliasesRequest(page_size=100)).body
        expect(any(a.alias_name == alias and a.key_id == other for a in r.aliases.alias), str(r.to_map()))
        kms.delete_alias(m.DeleteAliasRequest(alias_name=alias))
        expect_error(lambda: kms.delete_alias(m.DeleteAliasRequest(alias_name=alias)), "Forbidden.AliasNotFound", 404)

    with check("tea tags"):
        kms.tag_resource(m.TagResourceRequest(key_id=key, tags=json.dumps([{"TagKey": "team", "TagValue": "core"}])))
        r = kms.list_resource_tags(m.ListResourceTagsRequest(key_id=key)).body
        expect(sorted(t.tag_key for t in r.tags.tag) == ["env", "team"], str(r.to_map()))
        kms.untag_resource(m.UntagResourceRequest(key_id=key, tag_keys=json.dumps(["env", "team"])))
        r = kms.list_resource_tags(m.ListResourceTagsRequest(key_id=key)).body
        expect(not r.tags.tag, str(r.to_map()))

    with check("tea ListKeys pages"):
        r = kms.list_keys(m.ListKeysRequest(page_number=1, page_size=1)).body
        expect(r.total_count >= 2 and len(r.keys.key) == 1, str(r.to_map()))

    with check("tea UpdateKeyDescription"):
        kms.update_key_description(m.UpdateKeyDescriptionRequest(key_id=key, description="changed"))
        expect(kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.description == "changed", "")

    with check("tea GetKeyPolicy/SetKeyPolicy"):
        policy = json.loads(kms.get_key_policy(m.GetKeyPolicyRequest(key_id=key, policy_name="default")).body.policy)
        expect(policy["Statement"][0]["Principal"]["RAM"] == [f"acs:ram::{ACCOUNT}:*"], str(policy))
        mine = json.dumps({"Version": "1", "Statement": []})
        kms.set_key_policy(m.SetKeyPolicyRequest(key_id=key, policy_name="default", policy=mine))
        got = kms.get_key_policy(m.GetKeyPolicyRequest(key_id=key, policy_name="default")).body.policy
        expect(json.loads(got) == json.loads(mine), got)

    with check("tea DisableKey makes Encrypt Rejected.Disabled (409)"):
        kms.disable_key(m.DisableKeyRequest(key_id=key))
        expect_error(lambda: kms.encrypt(m.EncryptRequest(key_id=key, plaintext=b64(b"x"))), "Rejected.Disabled", 409)
        kms.enable_key(m.EnableKeyRequest(key_id=key))

    with check("tea ScheduleKeyDeletion then CancelKeyDeletion leaves the key Enabled"):
        kms.schedule_key_deletion(m.ScheduleKeyDeletionRequest(key_id=key, pending_window_in_days=7))
        meta = kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata
        expect(meta.key_state == "PendingDeletion" and meta.delete_date, str(meta.to_map()))
        expect_error(lambda: kms.enable_key(m.EnableKeyRequest(key_id=key)), "Rejected.StateModifiedFailed", 409)
        kms.cancel_key_deletion(m.CancelKeyDeletionRequest(key_id=key))
        expect(kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.key_state == "Enabled", "")

    with check("tea BYOK key is PendingImport and refuses Encrypt"):
        byok = kms.create_key(m.CreateKeyRequest(origin="EXTERNAL")).body.key_metadata
        expect(byok.key_state == "PendingImport" and byok.origin == "EXTERNAL", str(byok.to_map()))
        expect_error(
            lambda: kms.encrypt(m.EncryptRequest(key_id=byok.key_id, plaintext=b64(b"x"))), "Rejected.PendingImport", 409
        )

    with check("tea missing key is Forbidden.KeyNotFound (404)"):
        expect_error(lambda: kms.describe_key(m.DescribeKeyRequest(key_id="key-doesnotexist")), "Forbidden.KeyNotFound", 404)

    with check("tea wrong secret is SignatureDoesNotMatch"):
        bad = tea(host, access_key_secret="wrong")
        expect_error(lambda: bad.describe_key(m.DescribeKeyRequest(key_id=key)), "SignatureDoesNotMatch", 400)

    with check("tea signature_algorithm=v2 (HMAC-SHA1 RPC)"):
        v2 = tea(host, signature_algorithm="v2")
        k = v2.create_key(m.CreateKeyRequest(description="v2 * ~")).body.key_metadata.key_id
        r = v2.encrypt(m.EncryptRequest(key_id=k, plaintext=b64(b"v2"))).body
        d = v2.decrypt(m.DecryptRequest(ciphertext_blob=r.ciphertext_blob)).body
        expect(base64.b64decode(d.plaintext) == b"v2", d.plaintext)

    with check("tea signature_version=v4 (ACS4-HMAC-SHA256)"):
        v4 = tea(host, signature_version="v4", region_id=REGION)
        meta = v4.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata
        expect(meta.key_id == key, str(meta.to_map()))


def run_tea_rotation_byok_asymmetric(host: str) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    kms = tea(host)
    with check("tea UpdateRotationPolicy"):
        key = kms.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
        kms.update_rotation_policy(
            m.UpdateRotationPolicyRequest(key_id=key, enable_automatic_rotation=True, rotation_interval="7d")
        )
        meta = kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata
        expect(meta.automatic_rotation == "Enabled" and meta.rotation_interval == "604800s", str(meta.to_map()))
        expect(meta.next_rotation_date, "no NextRotationDate")
        kms.update_rotation_policy(m.UpdateRotationPolicyRequest(key_id=key, enable_automatic_rotation=False))
        meta = kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata
        expect(meta.automatic_rotation == "Disabled", str(meta.to_map()))

    with check("tea BYOK: GetParametersForImport, ImportKeyMaterial, DeleteKeyMaterial"):
        key = kms.create_key(m.CreateKeyRequest(origin="EXTERNAL")).body.key_metadata.key_id
        params = kms.get_parameters_for_import(
            m.GetParametersForImportRequest(
                key_id=key, wrapping_algorithm="RSAES_OAEP_SHA_256", wrapping_key_spec="RSA_2048"
            )
        ).body
        public = serialization.load_der_public_key(base64.b64decode(params.public_key))
        material = os.urandom(32)
        wrapped = public.encrypt(
            material,
            padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        )
        kms.import_key_material(
            m.ImportKeyMaterialRequest(
                key_id=key,
                encrypted_key_material=b64(wrapped),
                import_token=params.import_token,
                key_material_expire_unix=0,
            )
        )
        expect(kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.key_state == "Enabled", "")
        blob = kms.encrypt(m.EncryptRequest(key_id=key, plaintext=b64(b"byok"))).body.ciphertext_blob
        kms.delete_key_material(m.DeleteKeyMaterialRequest(key_id=key))
        expect(
            kms.describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata.key_state == "PendingImport", ""
        )
        expect_error(lambda: kms.decrypt(m.DecryptRequest(ciphertext_blob=blob)), "Rejected.PendingImport", 409)

    with check("tea EC_P256 AsymmetricSign, checked with an independent library, and AsymmetricVerify"):
        key = kms.create_key(m.CreateKeyRequest(key_spec="EC_P256", key_usage="SIGN/VERIFY")).body.key_metadata.key_id
        version = kms.list_key_versions(m.ListKeyVersionsRequest(key_id=key)).body.key_versions.key_version[0]
        vid = version.key_version_id
        h = hashes.Hash(hashes.SHA256())
        h.update(b"message")
        digest = h.finalize()
        sig = kms.asymmetric_sign(
            m.AsymmetricSignRequest(key_id=key, key_version_id=vid, algorithm="ECDSA_SHA_256", digest=b64(digest))
        ).body.value
        pem = kms.get_public_key(m.GetPublicKeyRequest(key_id=key, key_version_id=vid)).body.public_key
        public = serialization.load_pem_public_key(pem.encode())
        public.verify(base64.b64decode(sig), b"message", ec.ECDSA(hashes.SHA256()))
        ok = kms.asymmetric_verify(
            m.AsymmetricVerifyRequest(
                key_id=key, key_version_id=vid, algorithm="ECDSA_SHA_256", digest=b64(digest), value=sig
            )
        ).body.value
        expect(ok is True, f"Value {ok!r}")
        bad = kms.asymmetric_verify(
            m.AsymmetricVerifyRequest(
                key_id=key, key_version_id=vid, algorithm="ECDSA_SHA_256", digest=b64(bytes(32)), value=sig
            )
        ).body.value
        expect(bad is False, f"Value {bad!r}")

    with check("tea RSA_2048 AsymmetricEncrypt/AsymmetricDecrypt, and local encryption"):
        key = kms.create_key(m.CreateKeyRequest(key_spec="RSA_2048", key_usage="ENCRYPT/DECRYPT")).body.key_metadata.key_id
        vid = kms.list_key_versions(m.ListKeyVersionsRequest(key_id=key)).body.key_versions.key_version[0].key_version_id
        blob = kms.asymmetric_encrypt(
            m.AsymmetricEncryptRequest(key_id=key, key_version_id=vid, algorithm="RSAES_OAEP_SHA_256", plaintext=b64(b"rsa"))
        ).body.ciphertext_blob
        out = kms.asymmetric_decrypt(
            m.AsymmetricDecryptRequest(key_id=key, key_version_id=vid, algorithm="RSAES_OAEP_SHA_256", ciphertext_blob=blob)
        ).body.plaintext
        expect(base64.b64decode(out) == b"rsa", out)
        pem = kms.get_public_key(m.GetPublicKeyRequest(key_id=key, key_version_id=vid)).body.public_key
        local = serialization.load_pem_public_key(pem.encode()).encrypt(
            b"local", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        )
        out = kms.asymmetric_decrypt(
            m.AsymmetricDecryptRequest(key_id=key, key_version_id=vid, algorithm="RSAES_OAEP_SHA_1", ciphertext_blob=b64(local))
        ).body.plaintext
        expect(base64.b64decode(out) == b"local", out)


def run_tea_export(host: str) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    kms = tea(host)
    with check("tea GenerateAndExportDataKey/ExportDataKey to a local RSA key"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key = kms.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
        r = kms.generate_and_export_data_key(
            m.GenerateAndExportDataKeyRequest(
                key_id=key,
                public_key_blob=b64(der),
                wrapping_algorithm="RSAES_OAEP_SHA_256",
                wrapping_key_spec="RSA_2048",
                key_spec="AES_256",
            )
        ).body
        oaep256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        exported = private.decrypt(base64.b64decode(r.exported_data_key), oaep256)
        plain = kms.decrypt(m.DecryptRequest(ciphertext_blob=r.ciphertext_blob)).body.plaintext
        expect(exported == base64.b64decode(plain) and len(exported) == 32, "exported key differs")
        e = kms.export_data_key(
            m.ExportDataKeyRequest(
                ciphertext_blob=r.ciphertext_blob,
                public_key_blob=b64(der),
                wrapping_algorithm="RSAES_OAEP_SHA_1",
                wrapping_key_spec="RSA_2048",
            )
        ).body
        oaep1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        expect(private.decrypt(base64.b64decode(e.exported_data_key), oaep1) == exported, "ExportDataKey differs")


def run_tea_protection_and_batch_tags(host: str) -> None:
    kms = tea(host)

    def describe(key_id):
        return kms.describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata

    with check("tea SetDeletionProtection makes ScheduleKeyDeletion Rejected.StateModifiedFailed (409)"):
        meta = kms.create_key(m.CreateKeyRequest()).body.key_metadata
        expect(describe(meta.key_id).deletion_protection == "Disabled", str(describe(meta.key_id).to_map()))
        kms.set_deletion_protection(
            m.SetDeletionProtectionRequest(
                protected_resource_arn=meta.arn,
                enable_deletion_protection=True,
                deletion_protection_description="conformance",
            )
        )
        got = describe(meta.key_id)
        expect(
            got.deletion_protection == "Enabled" and got.deletion_protection_description == "conformance",
            str(got.to_map()),
        )
        schedule = m.ScheduleKeyDeletionRequest(key_id=meta.key_id, pending_window_in_days=7)
        expect_error(lambda: kms.schedule_key_deletion(schedule), "Rejected.StateModifiedFailed", 409)
        # Off again by KeyId (the SDK's newer parameter); deletion can then be scheduled.
        kms.set_deletion_protection(m.SetDeletionProtectionRequest(key_id=meta.key_id, enable_deletion_protection=False))
        expect(describe(meta.key_id).deletion_protection == "Disabled", "")
        kms.schedule_key_deletion(schedule)
        expect(describe(meta.key_id).key_state == "PendingDeletion", "")

    with check("tea TagResources/ListTagResources/UntagResources"):
        a = kms.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
        b = kms.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
        kms.tag_resources(
            m.TagResourcesRequest(
                region_id=REGION,
                resource_type="key",
                resource_id=[a, b],
                tag=[m.TagResourcesRequestTag(key="env", value="prod"), m.TagResourcesRequestTag(key="team", value="core")],
            )
        )

        def rows(**extra):
            r = kms.list_tag_resources(
                m.ListTagResourcesRequest(region_id=REGION, resource_type="key", resource_id=[a, b], **extra)
            ).body
            return sorted((t.resource_id, t.resource_type, t.tag_key, t.tag_value) for t in r.tag_resources.tag_resource)

        want = sorted((k, "key", t, v) for k in (a, b) for t, v in (("env", "prod"), ("team", "core")))
        expect(rows() == want, str(rows()))
        only_env = rows(tag=[m.ListTagResourcesRequestTag(key="env")])
        expect(only_env == [w for w in want if w[2] == "env"], str(only_env))
        # The older API sees the same tags.
        old = kms.list_resource_tags(m.ListResourceTagsRequest(key_id=a)).body
        expect(sorted(t.tag_key for t in old.tags.tag) == ["env", "team"], str(old.to_map()))
        kms.untag_resources(
            m.UntagResourcesRequest(region_id=REGION, resource_type="key", resource_id=[a], tag_key=["env"])
        )
        kms.untag_resources(m.UntagResourcesRequest(region_id=REGION, resource_type="key", resource_id=[b], all=True))
        expect(rows() == [(a, "key", "team", "core")], str(rows()))

    with check("tea TagResources on a secret is InvalidParameter (400)"):
        expect_error(
            lambda: kms.tag_resources(
                m.TagResourcesRequest(
                    region_id=REGION,
                    resource_type="secret",
                    resource_id=["s"],
                    tag=[m.TagResourcesRequestTag(key="k", value="v")],
                )
            ),
            "InvalidParameter",
            400,
        )


def run_legacy(host: str) -> None:
    acs = AcsClient("test", "test", REGION, auto_retry=False)

    def call(req, **params):
        req.set_endpoint(host)
        req.set_protocol_type("http")
        req.set_accept_format("JSON")
        for name, value in params.items():
            getattr(req, f"set_{name}")(value)
        return json.loads(acs.do_action_with_exception(req))

    key = None
    with check("legacy CreateKey/DescribeKey"):
        key = call(CreateKeyRequest.CreateKeyRequest(), Description="legacy * ~ 中文")["KeyMetadata"]["KeyId"]
        meta = call(DescribeKeyRequest.DescribeKeyRequest(), KeyId=key)["KeyMetadata"]
        expect(meta["Arn"] == f"acs:kms:{REGION}:{ACCOUNT}:key/{key}", meta["Arn"])

    with check("legacy Encrypt/Decrypt with EncryptionContext"):
        ctx = json.dumps({"purpose": "legacy"})
        r = call(EncryptRequest.EncryptRequest(), KeyId=key, Plaintext=b64(b"legacy"), EncryptionContext=ctx)
        d = call(DecryptRequest.DecryptRequest(), CiphertextBlob=r["CiphertextBlob"], EncryptionContext=ctx)
        expect(base64.b64decode(d["Plaintext"]) == b"legacy", d["Plaintext"])

    with check("legacy DisableKey makes Encrypt Rejected.Disabled (409)"):
        call(DisableKeyRequest.DisableKeyRequest(), KeyId=key)
        expect_error(
            lambda: call(EncryptRequest.EncryptRequest(), KeyId=key, Plaintext=b64(b"x")), "Rejected.Disabled", 409
        )

    with check("legacy wrong secret is SignatureDoesNotMatch"):
        bad = AcsClient("test", "wrong", REGION, auto_retry=False)
        req = DescribeKeyRequest.DescribeKeyRequest()
        req.set_endpoint(host)
        req.set_protocol_type("http")
        req.set_accept_format("JSON")
        req.set_KeyId(key)
        expect_error(lambda: bad.do_action_with_exception(req), "SignatureDoesNotMatch", 400)

    with check("legacy and current SDK see the same key"):
        meta = tea(host).describe_key(m.DescribeKeyRequest(key_id=key)).body.key_metadata
        expect(meta.key_state == "Disabled", meta.key_state)

    with check("legacy SetDeletionProtection makes ScheduleKeyDeletion Rejected.StateModifiedFailed (409)"):
        arn = f"acs:kms:{REGION}:{ACCOUNT}:key/{key}"
        call(
            SetDeletionProtectionRequest.SetDeletionProtectionRequest(),
            ProtectedResourceArn=arn,
            EnableDeletionProtection=True,
            DeletionProtectionDescription="legacy",
        )
        meta = call(DescribeKeyRequest.DescribeKeyRequest(), KeyId=key)["KeyMetadata"]
        expect(meta["DeletionProtection"] == "Enabled", str(meta))
        expect_error(
            lambda: call(ScheduleKeyDeletionRequest.ScheduleKeyDeletionRequest(), KeyId=key, PendingWindowInDays=7),
            "Rejected.StateModifiedFailed",
            409,
        )

    with check("legacy TagResources/ListTagResources"):
        call(
            TagResourcesRequest.TagResourcesRequest(),
            ResourceType="key",
            ResourceIds=[key],
            Tags=[{"Key": "legacy", "Value": "yes"}],
        )
        r = call(ListTagResourcesRequest.ListTagResourcesRequest(), ResourceType="key", ResourceIds=[key])
        got = [(t["ResourceId"], t["TagKey"], t["TagValue"]) for t in r["TagResources"]["TagResource"]]
        expect(got == [(key, "legacy", "yes")], str(r))


def main() -> int:
    url = os.environ.get("TRENT_URL") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not url:
        sys.exit("TRENT_URL is not set (nor given as the first argument)")
    host = url.split("://", 1)[-1].rstrip("/")
    run_tea(host)
    run_tea_rotation_byok_asymmetric(host)
    run_tea_export(host)
    run_tea_protection_and_batch_tags(host)
    run_legacy(host)
    print("END test_aliyun.py", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
