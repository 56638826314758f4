"""Drives Trent's asymmetric, HMAC and imported keys with boto3, and checks every result with
pyca/cryptography, a library that shares no code with Trent (aws-lc): signatures verify with the
public key GetPublicKey returns, what cryptography encrypts to that key decrypts in Trent, ECDH
agrees, data key pairs are real key pairs, and key material is wrapped for import the way AWS's
own instructions do it (OAEP, or OAEP + AES key wrap with padding).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from harness import CheckFailed, check, endpoint, end, eq, expect

URL = endpoint()
RUN = uuid.uuid4().hex[:8]
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
kms = session.client(
    "kms",
    endpoint_url=URL,
    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60),
)
print(f"# boto3 {boto3.__version__}, botocore {botocore.__version__}")

HASHES = {"SHA_256": hashes.SHA256(), "SHA_384": hashes.SHA384(), "SHA_512": hashes.SHA512()}


def raises(code: str, fn, **kwargs) -> None:
    try:
        out = fn(**kwargs)
    except ClientError as e:
        eq(e.response.get("Error", {}).get("Code"), code, f"{fn.__name__} error code")
        return
    out.pop("ResponseMetadata", None)
    raise CheckFailed(f"{fn.__name__} succeeded; expected {code}: {out!r}")


def new_key(**kwargs) -> str:
    return kms.create_key(Description=f"conformance keys {RUN}", **kwargs)["KeyMetadata"]["KeyId"]


def public_key(key_id: str):
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def hash_of(algorithm: str):
    return HASHES[algorithm[-7:]]


def verify_locally(public, algorithm: str, message: bytes, signature: bytes) -> None:
    """Raises cryptography's InvalidSignature unless `signature` is right."""
    h = hash_of(algorithm)
    if algorithm.startswith("ECDSA"):
        public.verify(signature, message, ec.ECDSA(h))
    elif algorithm.startswith("RSASSA_PSS"):
        # AWS signs PSS with a salt as long as the hash.
        public.verify(signature, message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    else:
        public.verify(signature, message, padding.PKCS1v15(), h)


# ----- signatures ------------------------------------------------------------------------

SIGNING = {
    "RSA_2048": ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384"],
    "RSA_3072": ["RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256"],
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
}
for spec, algorithms in SIGNING.items():
    with check(f"boto3-keys.sign-verify.{spec}"):
        key_id = new_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        expect(set(algorithms) <= set(meta["SigningAlgorithms"]), f"SigningAlgorithms {meta['SigningAlgorithms']}")
        public = public_key(key_id)
        message = os.urandom(300)
        for algorithm in algorithms:
            raw = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)
            eq(raw["SigningAlgorithm"], algorithm, "SigningAlgorithm")
            verify_locally(public, algorithm, message, raw["Signature"])
            # DIGEST: the caller hashes; the signature is over the same message.
            digest = hashlib.new(algorithm[-7:].replace("_", "").lower(), message).digest()
            pre = kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)
            verify_locally(public, algorithm, message, pre["Signature"])
            ok = kms.verify(KeyId=key_id, Message=message, Signature=raw["Signature"], SigningAlgorithm=algorithm)
            eq(ok["SignatureValid"], True, "SignatureValid")
            raises(
                "KMSInvalidSignatureException",
                kms.verify,
                KeyId=key_id,
                Message=message + b"!",
                Signature=raw["Signature"],
                SigningAlgorithm=algorithm,
            )
        raises("InvalidKeyUsageException", kms.encrypt, KeyId=key_id, Plaintext=b"x")

with check("boto3-keys.sign-verify.ECC_NIST_EDWARDS25519"):
    key_id = new_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")
    public = public_key(key_id)
    expect(isinstance(public, ed25519.Ed25519PublicKey), f"GetPublicKey gave {type(public)}")
    message = b"pure EdDSA over the message itself"
    out = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")
    public.verify(out["Signature"], message)
    raises("ValidationException", kms.sign, KeyId=key_id, Message=message, MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")

with check("boto3-keys.verify-a-local-signature"):
    # A signature made by cryptography with an imported private key verifies in Trent.
    local = ec.generate_private_key(ec.SECP384R1())
    key_id = new_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")
    pkcs8 = local.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_3072"
    )
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    aes = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = wrapping.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, pkcs8)
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    message = b"signed outside, verified inside"
    signature = local.sign(message, ec.ECDSA(hashes.SHA384()))
    eq(
        kms.verify(KeyId=key_id, Message=message, Signature=signature, SigningAlgorithm="ECDSA_SHA_384")["SignatureValid"],
        True,
        "SignatureValid",
    )
    eq(
        public_key(key_id).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        local.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "GetPublicKey of the imported key",
    )

# ----- RSA-OAEP, ECDH, data key pairs ---------------------------------------------------------

with check("boto3-keys.rsa-oaep"):
    key_id = new_key(KeySpec="RSA_4096", KeyUsage="ENCRYPT_DECRYPT")
    public = public_key(key_id)
    for algorithm, h in (("RSAES_OAEP_SHA_1", hashes.SHA1()), ("RSAES_OAEP_SHA_256", hashes.SHA256())):
        ciphertext = public.encrypt(b"to the KMS key", padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
        out = kms.decrypt(KeyId=key_id, CiphertextBlob=ciphertext, EncryptionAlgorithm=algorithm)
        eq(out["Plaintext"], b"to the KMS key", f"{algorithm} plaintext")
    raises("ValidationException", kms.encrypt, KeyId=key_id, Plaintext=b"x" * 447, EncryptionAlgorithm="RSAES_OAEP_SHA_256")

with check("boto3-keys.ecdh"):
    key_id = new_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")
    local = ec.generate_private_key(ec.SECP256R1())
    peer = local.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    eq(out["SharedSecret"], local.exchange(ec.ECDH(), public_key(key_id)), "shared secret")

with check("boto3-keys.data-key-pairs"):
    wrapping_key = new_key()
    for spec in ("RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1"):
        out = kms.generate_data_key_pair(KeyId=wrapping_key, KeyPairSpec=spec)
        private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
        eq(
            private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
            out["PublicKey"],
            f"{spec} public key",
        )
        eq(kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"], out["PrivateKeyPlaintext"], "private key blob")
        expect(isinstance(private, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)), f"{spec}: {type(private)}")

# ----- imported material ------------------------------------------------------------------------


def import_material(key_id: str, material: bytes, **extra) -> dict:
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapping.encrypt(material, oaep),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        **extra,
    )


with check("boto3-keys.imported-hmac"):
    material = os.urandom(48)
    key_id = new_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC", Origin="EXTERNAL")
    import_material(key_id, material)
    out = kms.generate_mac(KeyId=key_id, Message=b"mac me", MacAlgorithm="HMAC_SHA_384")
    eq(out["Mac"], hmac.new(material, b"mac me", hashlib.sha384).digest(), "HMAC")
    raises("KMSInvalidMacException", kms.verify_mac, KeyId=key_id, Message=b"mac me", MacAlgorithm="HMAC_SHA_384", Mac=b"\0" * 48)

with check("boto3-keys.imported-symmetric-several-materials"):
    key_id = new_key(Origin="EXTERNAL")
    first = import_material(key_id, os.urandom(32))["KeyMaterialId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"first material")["CiphertextBlob"]
    second = import_material(key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="next one")[
        "KeyMaterialId"
    ]
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    eq(
        [(r["KeyMaterialId"], r["KeyMaterialState"], r.get("ImportState")) for r in listed],
        [(first, "CURRENT", "IMPORTED"), (second, "PENDING_ROTATION", "IMPORTED")],
        "materials before the rotation",
    )
    kms.rotate_key_on_demand(KeyId=key_id)
    eq(kms.describe_key(KeyId=key_id)["KeyMetadata"].get("CurrentKeyMaterialId"), second, "CurrentKeyMaterialId")
    new = kms.encrypt(KeyId=key_id, Plaintext=b"second material")["CiphertextBlob"]
    eq(kms.decrypt(CiphertextBlob=old)["Plaintext"], b"first material", "old ciphertext")
    eq(kms.decrypt(CiphertextBlob=new)["Plaintext"], b"second material", "new ciphertext")
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    eq([(r["KeyMaterialId"], r.get("RotationType")) for r in rotations], [(second, "ON_DEMAND")], "rotations")
    kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first)
    eq(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "PendingImport", "state without the first material")
    raises("KMSInvalidStateException", kms.decrypt, CiphertextBlob=new)

end("test_boto3_keys.py")
