//! Cryptography: symmetric Encrypt/Decrypt/ReEncrypt/GenerateDataKey*, and the asymmetric
//! operations (GetPublicKey, AsymmetricSign/Verify/Encrypt/Decrypt).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use trent_core::blob::EncryptionContext;
use trent_core::engine::DataKey;
use trent_core::model::{MessageType, SigningAlgorithm};
use trent_core::state::KeyOp;
use trent_core::{DataKeySpec, EncryptionAlgorithm, KeyId, KeyRef, KmsError};
use trent_dialect::{Blob, SecretBlob};
use zeroize::Zeroizing;

use super::byok::WRAPPING_KEY_SPECS;
use super::versions::version_not_found;
use super::wire::*;
use super::{Ctx, Res};
use crate::error::AliyunError;
use crate::params::Params;

// ----- cryptography ---------------------------------------------------------------------------

/// Alibaba's plaintext limit for Encrypt (6 KiB).
pub(super) const MAX_PLAINTEXT: usize = 6144;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CiphertextResponse {
    ciphertext_blob: Blob,
    key_id: String,
    key_version_id: String,
}

pub(super) fn ciphertext_response(ciphertext: Vec<u8>, key_id: &KeyId) -> Res<CiphertextResponse> {
    Ok(CiphertextResponse {
        key_version_id: blob_version(&ciphertext)?,
        ciphertext_blob: Blob(ciphertext),
        key_id: key_id.to_string(),
    })
}

pub(super) fn encrypt(ctx: &Ctx<'_>, p: &Params) -> Res<CiphertextResponse> {
    let key = key_ref(p, "KeyId")?;
    let plaintext = base64_param(p, "Plaintext")?;
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(AliyunError::invalid("Plaintext"));
    }
    let context = context(p, "EncryptionContext")?;
    let (blob, key) = ctx.kms.encrypt(
        ctx.caller,
        &key,
        &plaintext,
        &context,
        EncryptionAlgorithm::SymmetricDefault,
    )?;
    dry_run(p, ciphertext_response(blob, &key.record.id)?)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    plaintext: SecretBlob,
    key_id: String,
    key_version_id: String,
}

pub(super) fn decrypt(ctx: &Ctx<'_>, p: &Params) -> Res<DecryptResponse> {
    refuse(p, &["Recipient"], "Recipient (confidential computing)")?;
    let ciphertext = base64_param(p, "CiphertextBlob")?;
    let context = context(p, "EncryptionContext")?;
    let out = ctx.kms.decrypt(
        ctx.caller,
        &ciphertext,
        None,
        &context,
        EncryptionAlgorithm::SymmetricDefault,
    )?;
    dry_run(
        p,
        DecryptResponse {
            plaintext: SecretBlob(out.plaintext),
            key_id: out.key.record.id.to_string(),
            key_version_id: blob_version(&ciphertext)?,
        },
    )
}

pub(super) fn re_encrypt(ctx: &Ctx<'_>, p: &Params) -> Res<CiphertextResponse> {
    refuse(
        p,
        &[
            "SourceKeyId",
            "SourceKeyVersionId",
            "SourceEncryptionAlgorithm",
        ],
        "re-encrypting asymmetric ciphertexts",
    )?;
    let ciphertext = base64_param(p, "CiphertextBlob")?;
    let destination = key_ref(p, "DestinationKeyId")?;
    let source_context = context(p, "SourceEncryptionContext")?;
    let destination_context = context(p, "DestinationEncryptionContext")?;
    let out = ctx.kms.re_encrypt(
        ctx.caller,
        &ciphertext,
        None,
        &source_context,
        EncryptionAlgorithm::SymmetricDefault,
        &destination,
        &destination_context,
        EncryptionAlgorithm::SymmetricDefault,
    )?;
    dry_run(
        p,
        ciphertext_response(out.ciphertext, &out.destination.record.id)?,
    )
}

/// `NumberOfBytes` (1–1024) wins over `KeySpec` (AES_256 | AES_128); neither means 32 bytes.
pub(super) fn data_key(ctx: &Ctx<'_>, p: &Params, op: KeyOp) -> Res<DataKey> {
    refuse(p, &["Recipient"], "Recipient (confidential computing)")?;
    let key = key_ref(p, "KeyId")?;
    let len = match int(p, "NumberOfBytes", 1, 1024)? {
        Some(n) => n as usize,
        None => match optional(p, "KeySpec") {
            Some(s) => DataKeySpec::parse(s)
                .ok_or_else(|| AliyunError::invalid("KeySpec"))?
                .byte_len(),
            None => DataKeySpec::Aes256.byte_len(),
        },
    };
    let context = context(p, "EncryptionContext")?;
    Ok(ctx
        .kms
        .generate_data_key(ctx.caller, &key, len, &context, op)?)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataKeyResponse {
    #[serde(flatten)]
    ciphertext: CiphertextResponse,
    plaintext: SecretBlob,
}

pub(super) fn generate_data_key(ctx: &Ctx<'_>, p: &Params) -> Res<DataKeyResponse> {
    let dk = data_key(ctx, p, KeyOp::GenerateDataKey)?;
    let ciphertext = ciphertext_response(dk.ciphertext, &dk.key.record.id)?;
    dry_run(
        p,
        DataKeyResponse {
            ciphertext,
            plaintext: SecretBlob(dk.plaintext),
        },
    )
}

pub(super) fn generate_data_key_without_plaintext(
    ctx: &Ctx<'_>,
    p: &Params,
) -> Res<CiphertextResponse> {
    let dk = data_key(ctx, p, KeyOp::GenerateDataKeyWithoutPlaintext)?;
    dry_run(p, ciphertext_response(dk.ciphertext, &dk.key.record.id)?)
}

// ----- asymmetric keys ------------------------------------------------------------------------

/// Alibaba's signing algorithm names. Its RSA algorithms are the SHA-256 ones only.
pub(super) const SIGNING_ALGORITHMS: &[(SigningAlgorithm, &str)] = &[
    (SigningAlgorithm::RsassaPssSha256, "RSA_PSS_SHA_256"),
    (SigningAlgorithm::RsassaPkcs1V15Sha256, "RSA_PKCS1_SHA_256"),
    (SigningAlgorithm::EcdsaSha256, "ECDSA_SHA_256"),
    (SigningAlgorithm::Sm2Dsa, "SM2DSA"),
];
pub(super) const ASYMMETRIC_ENCRYPTION: &[(EncryptionAlgorithm, &str)] = &[
    (EncryptionAlgorithm::RsaesOaepSha256, "RSAES_OAEP_SHA_256"),
    (EncryptionAlgorithm::RsaesOaepSha1, "RSAES_OAEP_SHA_1"),
    (EncryptionAlgorithm::Sm2Pke, "SM2PKE"),
];

/// `KeyId` plus the `KeyVersionId` every asymmetric call names. Asymmetric keys have one
/// version (the engine does not rotate them), which must be the one named. A key without
/// material has none to compare: the engine then refuses it by its state.
pub(super) fn versioned_key(ctx: &Ctx<'_>, p: &Params) -> Res<(KeyRef, String)> {
    let key = key_ref(p, "KeyId")?;
    let wanted = required(p, "KeyVersionId")?;
    let loaded = ctx.kms.describe_key(ctx.caller, &key)?;
    let r = &loaded.record;
    if let Some(current) = r.meta.current_material {
        if key_version_id(&r.id, current) != wanted {
            return Err(version_not_found());
        }
    }
    Ok((key, wanted.to_owned()))
}

pub(super) fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicKeyResponse {
    key_id: String,
    key_version_id: String,
    public_key: String,
}

pub(super) fn get_public_key(ctx: &Ctx<'_>, p: &Params) -> Res<PublicKeyResponse> {
    let (key, version) = versioned_key(ctx, p)?;
    let loaded = ctx.kms.get_public_key(ctx.caller, &key)?;
    let der = loaded
        .public_key_der()
        .ok_or_else(|| AliyunError::internal_with("asymmetric key without a public key"))?;
    Ok(PublicKeyResponse {
        key_id: loaded.record.id.to_string(),
        key_version_id: version,
        public_key: pem(der),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    key_id: String,
    key_version_id: String,
    value: Blob,
}

/// What AsymmetricSign and AsymmetricVerify both take: the key and its version, the algorithm
/// and the digest. Alibaba signs a digest the client computed (`Digest`), never a message.
struct Signing {
    key: KeyRef,
    version: String,
    algorithm: SigningAlgorithm,
    digest: Zeroizing<Vec<u8>>,
}

fn signing(ctx: &Ctx<'_>, p: &Params) -> Res<Signing> {
    let (key, version) = versioned_key(ctx, p)?;
    Ok(Signing {
        key,
        version,
        algorithm: from_wire(SIGNING_ALGORITHMS, required(p, "Algorithm")?, "Algorithm")?,
        digest: base64_param(p, "Digest")?,
    })
}

pub(super) fn asymmetric_sign(ctx: &Ctx<'_>, p: &Params) -> Res<SignResponse> {
    let Signing {
        key,
        version,
        algorithm,
        digest,
    } = signing(ctx, p)?;
    let (signature, loaded) =
        ctx.kms
            .sign(ctx.caller, &key, &digest, MessageType::Digest, algorithm)?;
    Ok(SignResponse {
        key_id: loaded.record.id.to_string(),
        key_version_id: version,
        value: Blob(signature),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    key_id: String,
    key_version_id: String,
    /// A JSON boolean: Alibaba answers a bad signature with `false`, not an error.
    value: bool,
}

pub(super) fn asymmetric_verify(ctx: &Ctx<'_>, p: &Params) -> Res<VerifyResponse> {
    let Signing {
        key,
        version,
        algorithm,
        digest,
    } = signing(ctx, p)?;
    let signature = base64_param(p, "Value")?;
    let value = match ctx.kms.verify(
        ctx.caller,
        &key,
        &digest,
        MessageType::Digest,
        &signature,
        algorithm,
    ) {
        Ok(_) => true,
        Err(KmsError::InvalidSignature) => false,
        Err(e) => return Err(e.into()),
    };
    Ok(VerifyResponse {
        key_id: ctx.kms.resolve(ctx.caller, &key)?.to_string(),
        key_version_id: version,
        value,
    })
}

pub(super) fn asymmetric_algorithm(p: &Params) -> Res<EncryptionAlgorithm> {
    from_wire(
        ASYMMETRIC_ENCRYPTION,
        required(p, "Algorithm")?,
        "Algorithm",
    )
}

pub(super) fn asymmetric_encrypt(ctx: &Ctx<'_>, p: &Params) -> Res<CiphertextResponse> {
    let (key, version) = versioned_key(ctx, p)?;
    let algorithm = asymmetric_algorithm(p)?;
    let plaintext = base64_param(p, "Plaintext")?;
    let (ciphertext, loaded) = ctx.kms.encrypt(
        ctx.caller,
        &key,
        &plaintext,
        &EncryptionContext::new(),
        algorithm,
    )?;
    Ok(CiphertextResponse {
        ciphertext_blob: Blob(ciphertext),
        key_id: loaded.record.id.to_string(),
        key_version_id: version,
    })
}

pub(super) fn asymmetric_decrypt(ctx: &Ctx<'_>, p: &Params) -> Res<DecryptResponse> {
    let (key, version) = versioned_key(ctx, p)?;
    let algorithm = asymmetric_algorithm(p)?;
    let ciphertext = base64_param(p, "CiphertextBlob")?;
    let out = ctx.kms.decrypt(
        ctx.caller,
        &ciphertext,
        Some(&key),
        &EncryptionContext::new(),
        algorithm,
    )?;
    Ok(DecryptResponse {
        plaintext: SecretBlob(out.plaintext),
        key_id: out.key.record.id.to_string(),
        key_version_id: version,
    })
}

// ----- exporting data keys to a public key ----------------------------------------------------

/// Encrypts a data key to the client's public key (`PublicKeyBlob`, base64 DER), as
/// `WrappingAlgorithm` and `WrappingKeySpec` say. Only RSA-OAEP with RSA_2048 exists here (no
/// SM2).
fn export_to(p: &Params, data_key: &[u8]) -> Res<Blob> {
    let algorithm = from_wire(
        ASYMMETRIC_ENCRYPTION,
        required(p, "WrappingAlgorithm")?,
        "WrappingAlgorithm",
    )?;
    let spec = from_wire(
        WRAPPING_KEY_SPECS,
        required(p, "WrappingKeySpec")?,
        "WrappingKeySpec",
    )?;
    let (Some(hash), Some(modulus)) = (
        algorithm.oaep(),
        spec.key_pair_spec().and_then(|k| k.rsa_modulus_len()),
    ) else {
        return Err(AliyunError::unsupported(format_args!(
            "WrappingAlgorithm {algorithm} with WrappingKeySpec {spec}"
        )));
    };
    let public = base64_param(p, "PublicKeyBlob")?;
    trent_crypto::encrypt_oaep_to(&public, modulus, hash, data_key)
        .map(Blob)
        .map_err(|_| AliyunError::invalid("PublicKeyBlob"))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExportedDataKeyResponse {
    #[serde(flatten)]
    ciphertext: CiphertextResponse,
    exported_data_key: Blob,
}

/// A new data key, encrypted under the CMK and, for the client, under its public key; the
/// plaintext never leaves the server.
pub(super) fn generate_and_export_data_key(
    ctx: &Ctx<'_>,
    p: &Params,
) -> Res<ExportedDataKeyResponse> {
    let dk = data_key(ctx, p, KeyOp::GenerateDataKey)?;
    let exported_data_key = export_to(p, dk.plaintext.expose())?;
    Ok(ExportedDataKeyResponse {
        ciphertext: ciphertext_response(dk.ciphertext, &dk.key.record.id)?,
        exported_data_key,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExportDataKeyResponse {
    exported_data_key: Blob,
    key_id: String,
    key_version_id: String,
}

/// Re-encrypts a data key from its CMK ciphertext to the client's public key.
pub(super) fn export_data_key(ctx: &Ctx<'_>, p: &Params) -> Res<ExportDataKeyResponse> {
    let ciphertext = base64_param(p, "CiphertextBlob")?;
    let context = context(p, "EncryptionContext")?;
    let out = ctx.kms.decrypt(
        ctx.caller,
        &ciphertext,
        None,
        &context,
        EncryptionAlgorithm::SymmetricDefault,
    )?;
    Ok(ExportDataKeyResponse {
        exported_data_key: export_to(p, out.plaintext.expose())?,
        key_id: out.key.record.id.to_string(),
        key_version_id: blob_version(&ciphertext)?,
    })
}
