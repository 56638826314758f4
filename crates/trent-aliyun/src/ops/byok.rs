//! Bring your own key: GetParametersForImport, ImportKeyMaterial, DeleteKeyMaterial.

use serde::Serialize;
use trent_core::engine::ImportRequest;
use trent_core::model::{Timestamp, WrappingAlgorithm, WrappingKeySpec};
use trent_dialect::Blob;

use super::wire::*;
use super::{Ctx, Res};
use crate::error::AliyunError;
use crate::params::Params;

/// Alibaba's wrapping key specs (its algorithms carry the engine's names).
pub(super) const WRAPPING_KEY_SPECS: &[(WrappingKeySpec, &str)] = &[
    (WrappingKeySpec::Rsa2048, "RSA_2048"),
    (WrappingKeySpec::Sm2, "EC_SM2"),
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportParametersResponse {
    key_id: String,
    import_token: Blob,
    /// Base64 DER SubjectPublicKeyInfo (unlike GetPublicKey's PEM).
    public_key: Blob,
    token_expire_time: String,
}

pub(super) fn get_parameters_for_import(
    ctx: &Ctx<'_>,
    p: &Params,
) -> Res<ImportParametersResponse> {
    let key = key_ref(p, "KeyId")?;
    let algorithm = WrappingAlgorithm::parse(required(p, "WrappingAlgorithm")?)
        .ok_or_else(|| AliyunError::invalid("WrappingAlgorithm"))?;
    let spec = from_wire(
        WRAPPING_KEY_SPECS,
        required(p, "WrappingKeySpec")?,
        "WrappingKeySpec",
    )?;
    let out = ctx
        .kms
        .get_parameters_for_import(ctx.caller, &key, algorithm, spec)?;
    Ok(ImportParametersResponse {
        key_id: out.key.record.id.to_string(),
        import_token: Blob(out.import_token),
        public_key: Blob(out.public_key),
        token_expire_time: date(out.valid_to),
    })
}

pub(super) fn import_key_material(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let key = key_ref(p, "KeyId")?;
    let material = base64_param(p, "EncryptedKeyMaterial")?;
    let token = base64_param(p, "ImportToken")?;
    // Epoch seconds; 0 (or absent) means the material never expires.
    let expires = int(p, "KeyMaterialExpireUnix", 0, i64::MAX / 1000)?.unwrap_or(0);
    ctx.kms.import_key_material(
        ctx.caller,
        &key,
        ImportRequest {
            import_token: &token,
            encrypted_key_material: &material,
            valid_to: (expires > 0).then(|| Timestamp(expires * 1000)),
            ..ImportRequest::default()
        },
    )?;
    Ok(Empty {})
}

pub(super) fn delete_key_material(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    ctx.kms
        .delete_imported_key_material(ctx.caller, &key_ref(p, "KeyId")?, None)?;
    Ok(Empty {})
}
