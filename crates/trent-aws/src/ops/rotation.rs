//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations.

use serde::{Deserialize, Serialize};
use trent_core::engine::DEFAULT_ROTATION_PERIOD_DAYS;
use trent_core::{KeyRefForms, RotationType};

use super::{key_ref, Ctx, Empty, KeyArnResponse, KeyIdRequest, KeyPageRequest, Res};
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
    #[serde(skip_serializing_if = "Option::is_none")]
    on_demand_rotation_start_date: Option<Epoch>,
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
        on_demand_rotation_start_date: status.on_demand_started.map(Epoch),
    })
}

pub(super) fn rotate_key_on_demand(ctx: &Ctx<'_>, req: KeyIdRequest) -> Res<KeyArnResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let record = ctx.kms.rotate_key_on_demand(ctx.caller, &key)?;
    Ok(KeyArnResponse {
        key_id: record.arn(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    key_id: String,
    rotation_date: Epoch,
    rotation_type: RotationType,
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
    req: KeyPageRequest,
) -> Res<ListKeyRotationsResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let limit = limit(req.limit, 1000, 100)?;
    let (loaded, page) =
        ctx.kms
            .list_key_rotations(ctx.caller, &key, limit, marker(&req.marker)?)?;
    Ok(ListKeyRotationsResponse {
        rotations: page
            .items
            .into_iter()
            .map(|e| RotationsListEntry {
                key_id: loaded.arn(),
                rotation_date: Epoch(e.date),
                rotation_type: e.kind,
            })
            .collect(),
        truncated: page.next_marker.is_some(),
        next_marker: page.next_marker,
    })
}
