//! Asymmetric and HMAC operations: GetPublicKey, Sign, Verify, DeriveSharedSecret, Encapsulate,
//! Decapsulate, GenerateDataKeyPair(WithoutPlaintext), GenerateMac, VerifyMac.

use serde::{Deserialize, Serialize};
use trent_core::state::KeyOp;
use trent_core::{
    DataKeyPairSpec, EncapsulationAlgorithm, EncryptionAlgorithm, KeyAgreementAlgorithm,
    KeyRefForms, KeySpec, KeyUsage, KmsError, MacAlgorithm, MessageType, Origin, SigningAlgorithm,
};

use super::{ciphertext, dry_run, grant_tokens, key_ref, no_recipient, Ctx, Res};
use crate::wire::*;

/// Message members of Sign, Verify, GenerateMac and VerifyMac: 1–4096 bytes, never echoed.
fn message(value: &Option<SecretBlob>) -> Result<&[u8], KmsError> {
    let m = required(value, "message")?;
    check_len(m.0.len(), 1, 4096, "message", None)?;
    Ok(m.0.expose())
}

/// A required blob member with AWS's length bounds (signatures, MACs, public keys).
fn blob<'a>(value: &'a Option<Blob>, member: &str, max: usize) -> Result<&'a [u8], KmsError> {
    let b = required(value, member)?;
    check_len(b.0.len(), 1, max, member, None)?;
    Ok(&b.0)
}

// ----- GetPublicKey ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyRequest {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    key_id: String,
    public_key: Blob,
    customer_master_key_spec: KeySpec,
    key_spec: KeySpec,
    key_usage: KeyUsage,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    encryption_algorithms: &'static [EncryptionAlgorithm],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    signing_algorithms: &'static [SigningAlgorithm],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    key_agreement_algorithms: &'static [KeyAgreementAlgorithm],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    encapsulation_algorithms: &'static [EncapsulationAlgorithm],
}

pub(super) fn get_public_key(ctx: &Ctx<'_>, req: GetPublicKeyRequest) -> Res<GetPublicKeyResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    grant_tokens(&req.grant_tokens)?;
    let loaded = ctx.kms.get_public_key(ctx.caller, &key)?;
    let r = &loaded.record;
    let public_key = loaded
        .public_key_der()
        .ok_or_else(|| KmsError::internal("asymmetric key without public key"))?
        .to_vec();
    Ok(GetPublicKeyResponse {
        key_id: r.arn(),
        public_key: Blob(public_key),
        customer_master_key_spec: r.meta.key_spec,
        key_spec: r.meta.key_spec,
        key_usage: r.meta.key_usage,
        encryption_algorithms: r.encryption_algorithms(),
        signing_algorithms: r.signing_algorithms(),
        key_agreement_algorithms: r.key_agreement_algorithms(),
        encapsulation_algorithms: r.encapsulation_algorithms(),
    })
}

// ----- Sign / Verify -----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignRequest {
    key_id: Option<String>,
    message: Option<SecretBlob>,
    message_type: Option<String>,
    signature: Option<Blob>,
    signing_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

/// The members Sign and Verify share, checked.
struct SignInput<'a> {
    key: trent_core::KeyRef,
    message: &'a [u8],
    message_type: MessageType,
    algorithm: SigningAlgorithm,
}

fn sign_input(req: &SignRequest) -> Result<SignInput<'_>, KmsError> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let message = message(&req.message)?;
    let message_type =
        optional_enum::<MessageType>(&req.message_type, "messageType")?.unwrap_or(MessageType::Raw);
    let algorithm = required_enum::<SigningAlgorithm>(&req.signing_algorithm, "signingAlgorithm")?;
    Ok(SignInput {
        key,
        message,
        message_type,
        algorithm,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    key_id: String,
    signature: Blob,
    signing_algorithm: SigningAlgorithm,
}

pub(super) fn sign(ctx: &Ctx<'_>, req: SignRequest) -> Res<SignResponse> {
    let input = sign_input(&req)?;
    grant_tokens(&req.grant_tokens)?;
    let (signature, key) = ctx.kms.sign(
        ctx.caller,
        &input.key,
        input.message,
        input.message_type,
        input.algorithm,
    )?;
    dry_run(
        req.dry_run,
        SignResponse {
            key_id: key.arn(),
            signature: Blob(signature),
            signing_algorithm: input.algorithm,
        },
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    key_id: String,
    signature_valid: bool,
    signing_algorithm: SigningAlgorithm,
}

pub(super) fn verify(ctx: &Ctx<'_>, req: SignRequest) -> Res<VerifyResponse> {
    let input = sign_input(&req)?;
    let signature = blob(&req.signature, "signature", 6144)?;
    grant_tokens(&req.grant_tokens)?;
    let key = ctx.kms.verify(
        ctx.caller,
        &input.key,
        input.message,
        input.message_type,
        signature,
        input.algorithm,
    )?;
    dry_run(
        req.dry_run,
        VerifyResponse {
            key_id: key.arn(),
            signature_valid: true,
            signing_algorithm: input.algorithm,
        },
    )
}

// ----- DeriveSharedSecret ------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretRequest {
    key_id: Option<String>,
    key_agreement_algorithm: Option<String>,
    public_key: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretResponse {
    key_id: String,
    shared_secret: SecretBlob,
    key_agreement_algorithm: KeyAgreementAlgorithm,
    key_origin: Origin,
}

pub(super) fn derive_shared_secret(
    ctx: &Ctx<'_>,
    req: DeriveSharedSecretRequest,
) -> Res<DeriveSharedSecretResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let algorithm = required_enum::<KeyAgreementAlgorithm>(
        &req.key_agreement_algorithm,
        "keyAgreementAlgorithm",
    )?;
    let public_key = blob(&req.public_key, "publicKey", 8192)?;
    grant_tokens(&req.grant_tokens)?;
    no_recipient(&req.recipient)?;
    let (secret, key) = ctx
        .kms
        .derive_shared_secret(ctx.caller, &key, algorithm, public_key)?;
    dry_run(
        req.dry_run,
        DeriveSharedSecretResponse {
            key_id: key.arn(),
            shared_secret: SecretBlob(secret),
            key_agreement_algorithm: algorithm,
            key_origin: key.record.meta.origin,
        },
    )
}

// ----- Encapsulate / Decapsulate ----------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KemRequest {
    key_id: Option<String>,
    shared_secret_ciphertext_blob: Option<Blob>,
    encapsulation_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

/// The members Encapsulate and Decapsulate share, checked.
fn kem_input(req: &KemRequest) -> Res<(trent_core::KeyRef, EncapsulationAlgorithm)> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let algorithm = required_enum::<EncapsulationAlgorithm>(
        &req.encapsulation_algorithm,
        "encapsulationAlgorithm",
    )?;
    Ok((key, algorithm))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncapsulateResponse {
    key_id: String,
    shared_secret: SecretBlob,
    shared_secret_ciphertext_blob: Blob,
    encapsulation_algorithm: EncapsulationAlgorithm,
}

pub(super) fn encapsulate(ctx: &Ctx<'_>, req: KemRequest) -> Res<EncapsulateResponse> {
    let (key, algorithm) = kem_input(&req)?;
    grant_tokens(&req.grant_tokens)?;
    let (ciphertext, secret, key) = ctx.kms.encapsulate(ctx.caller, &key, algorithm)?;
    dry_run(
        req.dry_run,
        EncapsulateResponse {
            key_id: key.arn(),
            shared_secret: SecretBlob(secret),
            shared_secret_ciphertext_blob: Blob(ciphertext),
            encapsulation_algorithm: algorithm,
        },
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecapsulateResponse {
    key_id: String,
    shared_secret: SecretBlob,
    encapsulation_algorithm: EncapsulationAlgorithm,
}

pub(super) fn decapsulate(ctx: &Ctx<'_>, req: KemRequest) -> Res<DecapsulateResponse> {
    let (key, algorithm) = kem_input(&req)?;
    let blob = ciphertext(
        &req.shared_secret_ciphertext_blob,
        "sharedSecretCiphertextBlob",
    )?;
    grant_tokens(&req.grant_tokens)?;
    let (secret, key) = ctx.kms.decapsulate(ctx.caller, &key, blob, algorithm)?;
    dry_run(
        req.dry_run,
        DecapsulateResponse {
            key_id: key.arn(),
            shared_secret: SecretBlob(secret),
            encapsulation_algorithm: algorithm,
        },
    )
}

// ----- GenerateDataKeyPair -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairRequest {
    key_id: Option<String>,
    key_pair_spec: Option<String>,
    encryption_context: Option<Context>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    private_key_ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_plaintext: Option<SecretBlob>,
    public_key: Blob,
    key_id: String,
    key_pair_spec: DataKeyPairSpec,
}

fn data_key_pair(
    ctx: &Ctx<'_>,
    req: GenerateDataKeyPairRequest,
    op: KeyOp,
) -> Res<GenerateDataKeyPairResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let spec = required_enum::<DataKeyPairSpec>(&req.key_pair_spec, "keyPairSpec")?;
    grant_tokens(&req.grant_tokens)?;
    no_recipient(&req.recipient)?;
    let out = ctx.kms.generate_data_key_pair(
        ctx.caller,
        &key,
        spec,
        &req.encryption_context.unwrap_or_default(),
        op,
    )?;
    let private_key_plaintext = match op {
        KeyOp::GenerateDataKeyPairWithoutPlaintext => None,
        _ => Some(SecretBlob(out.private_key)),
    };
    dry_run(
        req.dry_run,
        GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: Blob(out.private_key_ciphertext),
            private_key_plaintext,
            public_key: Blob(out.public_key),
            key_id: out.key.arn(),
            key_pair_spec: spec,
        },
    )
}

pub(super) fn generate_data_key_pair(
    ctx: &Ctx<'_>,
    req: GenerateDataKeyPairRequest,
) -> Res<GenerateDataKeyPairResponse> {
    data_key_pair(ctx, req, KeyOp::GenerateDataKeyPair)
}

pub(super) fn generate_data_key_pair_without_plaintext(
    ctx: &Ctx<'_>,
    req: GenerateDataKeyPairRequest,
) -> Res<GenerateDataKeyPairResponse> {
    data_key_pair(ctx, req, KeyOp::GenerateDataKeyPairWithoutPlaintext)
}

// ----- GenerateMac / VerifyMac -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MacRequest {
    key_id: Option<String>,
    message: Option<SecretBlob>,
    mac_algorithm: Option<String>,
    mac: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

fn mac_algorithm(req: &MacRequest) -> Result<MacAlgorithm, KmsError> {
    required_enum::<MacAlgorithm>(&req.mac_algorithm, "macAlgorithm")
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacResponse {
    mac: Blob,
    mac_algorithm: MacAlgorithm,
    key_id: String,
}

pub(super) fn generate_mac(ctx: &Ctx<'_>, req: MacRequest) -> Res<GenerateMacResponse> {
    let message = message(&req.message)?;
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let algorithm = mac_algorithm(&req)?;
    grant_tokens(&req.grant_tokens)?;
    let (mac, key) = ctx.kms.generate_mac(ctx.caller, &key, message, algorithm)?;
    dry_run(
        req.dry_run,
        GenerateMacResponse {
            mac: Blob(mac),
            mac_algorithm: algorithm,
            key_id: key.arn(),
        },
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacResponse {
    key_id: String,
    mac_valid: bool,
    mac_algorithm: MacAlgorithm,
}

pub(super) fn verify_mac(ctx: &Ctx<'_>, req: MacRequest) -> Res<VerifyMacResponse> {
    let message = message(&req.message)?;
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let algorithm = mac_algorithm(&req)?;
    let mac = blob(&req.mac, "mac", 6144)?;
    grant_tokens(&req.grant_tokens)?;
    let key = ctx
        .kms
        .verify_mac(ctx.caller, &key, message, algorithm, mac)?;
    dry_run(
        req.dry_run,
        VerifyMacResponse {
            key_id: key.arn(),
            mac_valid: true,
            mac_algorithm: algorithm,
        },
    )
}
