//! Importing key material: GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial.

use serde::{Deserialize, Serialize};
use trent_core::engine::ImportRequest;
use trent_core::model::Timestamp;
use trent_core::{
    ExpirationModel, ImportType, KeyRefForms, KmsError, WrappingAlgorithm, WrappingKeySpec,
};

use super::{key_ref, Ctx, Res};
use crate::wire::*;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportRequest {
    key_id: Option<String>,
    wrapping_algorithm: Option<String>,
    wrapping_key_spec: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    key_id: String,
    import_token: Blob,
    public_key: Blob,
    parameters_valid_to: Epoch,
}

pub(super) fn get_parameters_for_import(
    ctx: &Ctx<'_>,
    req: GetParametersForImportRequest,
) -> Res<GetParametersForImportResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let algorithm =
        required_enum::<WrappingAlgorithm>(&req.wrapping_algorithm, "wrappingAlgorithm")?;
    let spec = required_enum::<WrappingKeySpec>(&req.wrapping_key_spec, "wrappingKeySpec")?;
    let p = ctx
        .kms
        .get_parameters_for_import(ctx.caller, &key, algorithm, spec)?;
    Ok(GetParametersForImportResponse {
        key_id: p.key.arn(),
        import_token: Blob(p.import_token),
        public_key: Blob(p.public_key),
        parameters_valid_to: Epoch(p.valid_to),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialRequest {
    key_id: Option<String>,
    import_token: Option<Blob>,
    encrypted_key_material: Option<Blob>,
    /// Epoch seconds, as AWS JSON sends timestamps.
    valid_to: Option<f64>,
    expiration_model: Option<String>,
    import_type: Option<String>,
    key_material_description: Option<String>,
    key_material_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialResponse {
    key_id: String,
    key_material_id: String,
}

/// `KeyMaterialId`: 64 lowercase hex digits (AWS's shape).
fn key_material_id(value: &Option<String>) -> Result<Option<&str>, KmsError> {
    let Some(id) = value.as_deref() else {
        return Ok(None);
    };
    check_len(id.len(), 64, 64, "keyMaterialId", Some(id))?;
    check_pattern(id, "keyMaterialId", "^[a-f0-9]+$", |c| {
        c.is_ascii_digit() || ('a'..='f').contains(&c)
    })?;
    Ok(Some(id))
}

/// ValidTo from ExpirationModel and ValidTo: the model defaults to KEY_MATERIAL_EXPIRES (AWS's
/// API reference), which requires ValidTo; KEY_MATERIAL_DOES_NOT_EXPIRE refuses it.
fn valid_to(
    model: Option<ExpirationModel>,
    valid_to: Option<f64>,
) -> Result<Option<Timestamp>, KmsError> {
    let valid_to = valid_to.map(|secs| Timestamp((secs * 1000.0) as i64));
    match (
        model.unwrap_or(ExpirationModel::KeyMaterialExpires),
        valid_to,
    ) {
        (ExpirationModel::KeyMaterialExpires, None) => Err(KmsError::Validation(
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
        )),
        (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => Err(KmsError::Validation(
            "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
                .into(),
        )),
        (_, v) => Ok(v),
    }
}

pub(super) fn import_key_material(
    ctx: &Ctx<'_>,
    req: ImportKeyMaterialRequest,
) -> Res<ImportKeyMaterialResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let token = required(&req.import_token, "importToken")?;
    check_len(token.0.len(), 1, 6144, "importToken", None)?;
    let material = required(&req.encrypted_key_material, "encryptedKeyMaterial")?;
    check_len(material.0.len(), 1, 6144, "encryptedKeyMaterial", None)?;
    let model = optional_enum::<ExpirationModel>(&req.expiration_model, "expirationModel")?;
    let import_type = optional_enum::<ImportType>(&req.import_type, "importType")?;
    let description = req.key_material_description.as_deref();
    if let Some(d) = description {
        check_len(d.chars().count(), 0, 256, "keyMaterialDescription", Some(d))?;
        check_pattern(d, "keyMaterialDescription", "^[a-zA-Z0-9:/_\\s.-]+$", |c| {
            c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || ":/_.-".contains(c)
        })?;
    }
    let (record, key_material_id) = ctx.kms.import_key_material(
        ctx.caller,
        &key,
        ImportRequest {
            import_token: &token.0,
            encrypted_key_material: &material.0,
            valid_to: valid_to(model, req.valid_to)?,
            import_type,
            key_material_id: key_material_id(&req.key_material_id)?,
            description,
        },
    )?;
    Ok(ImportKeyMaterialResponse {
        key_id: record.arn(),
        key_material_id,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteImportedKeyMaterialRequest {
    key_id: Option<String>,
    key_material_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteImportedKeyMaterialResponse {
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_material_id: Option<String>,
}

pub(super) fn delete_imported_key_material(
    ctx: &Ctx<'_>,
    req: DeleteImportedKeyMaterialRequest,
) -> Res<DeleteImportedKeyMaterialResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let (record, key_material_id) = ctx.kms.delete_imported_key_material(
        ctx.caller,
        &key,
        key_material_id(&req.key_material_id)?,
    )?;
    Ok(DeleteImportedKeyMaterialResponse {
        key_id: record.arn(),
        key_material_id,
    })
}
