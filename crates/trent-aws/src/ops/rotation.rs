//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations.

use serde::{Deserialize, Serialize};
use trent_core::engine::{KeyMaterialEntry, DEFAULT_ROTATION_PERIOD_DAYS};
use trent_core::{
    ExpirationModel, ImportState, IncludeKeyMaterial, KeyMaterialState, KeyRefForms, RotationType,
};

use super::{key_ref, Ctx, Empty, KeyArnResponse, KeyIdRequest, Res};
use crate::wire::*;

/// AWS's range of automatic rotation periods.
const ROTATION_PERIOD_DAYS: (i64, i64) = (90, 2560);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

pub(super) fn enable_key_rotation(ctx: &Ctx<'_>, req: EnableKeyRotationRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let days = match req.rotation_period_in_days {
        Some(d) => {
            let (min, max) = ROTATION_PERIOD_DAYS;
            check_range(d, min, max, "rotationPeriodInDays")?;
            d as u32
        }
        None => DEFAULT_ROTATION_PERIOD_DAYS,
    };
    ctx.kms.enable_key_rotation(ctx.caller, &key, days)?;
    Ok(Empty {})
}

pub(super) fn disable_key_rotation(ctx: &Ctx<'_>, req: KeyIdRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    ctx.kms.disable_key_rotation(ctx.caller, &key)?;
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    key_rotation_enabled: bool,
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<Epoch>,
    // No OnDemandRotationStartDate: AWS removes it once the on-demand rotation is complete,
    // and Trent's is complete before RotateKeyOnDemand returns.
}

pub(super) fn get_key_rotation_status(
    ctx: &Ctx<'_>,
    req: KeyIdRequest,
) -> Res<GetKeyRotationStatusResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let status = ctx.kms.get_key_rotation_status(ctx.caller, &key)?;
    Ok(GetKeyRotationStatusResponse {
        key_rotation_enabled: status.period_days.is_some(),
        key_id: status.key.arn(),
        rotation_period_in_days: status.period_days,
        next_rotation_date: status.next_rotation.map(Epoch),
    })
}

pub(super) fn rotate_key_on_demand(ctx: &Ctx<'_>, req: KeyIdRequest) -> Res<KeyArnResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let record = ctx.kms.rotate_key_on_demand(ctx.caller, &key)?;
    Ok(KeyArnResponse {
        key_id: record.arn(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsRequest {
    key_id: Option<String>,
    include_key_material: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

/// One key material. The import fields are present only for imported material, the rotation
/// fields only for material a rotation made current (AWS's RotationsListEntry).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    key_id: String,
    key_material_id: String,
    key_material_state: KeyMaterialState,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_material_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    import_state: Option<ImportState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_model: Option<ExpirationModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<Epoch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_date: Option<Epoch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_type: Option<RotationType>,
}

impl RotationsListEntry {
    fn new(key_id: String, e: KeyMaterialEntry) -> Self {
        let (import, import_state) = e.import.unzip();
        let import = import.as_ref();
        RotationsListEntry {
            key_id,
            key_material_id: e.key_material_id,
            key_material_state: e.state,
            key_material_description: import.and_then(|i| i.description.clone()),
            import_state,
            expiration_model: import.and_then(|i| i.expiration_model),
            valid_to: import.and_then(|i| i.valid_to).map(Epoch),
            rotation_date: e.rotation.as_ref().map(|r| Epoch(r.date)),
            rotation_type: e.rotation.map(|r| r.kind),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    rotations: Vec<RotationsListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

pub(super) fn list_key_rotations(
    ctx: &Ctx<'_>,
    req: ListKeyRotationsRequest,
) -> Res<ListKeyRotationsResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let include =
        optional_enum::<IncludeKeyMaterial>(&req.include_key_material, "includeKeyMaterial")?;
    let include_all = include == Some(IncludeKeyMaterial::AllKeyMaterial);
    let limit = limit(req.limit, 1000, 100)?;
    let (loaded, page) =
        ctx.kms
            .list_key_rotations(ctx.caller, &key, include_all, limit, marker(&req.marker)?)?;
    Ok(ListKeyRotationsResponse {
        rotations: page
            .items
            .into_iter()
            .map(|e| RotationsListEntry::new(loaded.arn(), e))
            .collect(),
        truncated: page.next_marker.is_some(),
        next_marker: page.next_marker,
    })
}
