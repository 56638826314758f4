//! Key versions (one per material version) and automatic rotation, which adds them.

use serde::Serialize;
use trent_core::model::Timestamp;
use trent_core::{KeyRecord, KmsError};

use super::wire::*;
use super::{Ctx, Res};
use crate::error::AliyunError;
use crate::params::Params;

// ----- key versions ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVersion {
    key_id: String,
    key_version_id: String,
    creation_date: String,
}

/// A key's versions: one per material version permanently associated with it, oldest first
/// (imported material whose rotation has not happened is not a version yet). Every Alibaba key
/// has at least one version, a BYOK key awaiting import too: that one is version 1, the
/// version its first material takes.
pub(super) fn versions(r: &KeyRecord) -> Vec<KeyVersion> {
    let mut numbers = r.material_versions(false);
    if numbers.is_empty() {
        numbers.push(1);
    }
    numbers
        .into_iter()
        .map(|v| KeyVersion {
            key_id: r.id.to_string(),
            key_version_id: key_version_id(&r.id, v),
            creation_date: date(version_date(r, v)),
        })
        .collect()
}

/// When a material version was made: the rotation that made it, else the key's creation.
pub(super) fn version_date(r: &KeyRecord, version: u32) -> Timestamp {
    r.meta
        .rotation
        .history
        .iter()
        .find(|e| e.material_version == version)
        .map_or(r.meta.created_at, |e| e.date)
}

pub(super) fn version_not_found() -> AliyunError {
    AliyunError::new(
        404,
        "Forbidden.KeyVersionNotFound",
        "The specified Key version is not found.",
    )
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVersionResponse {
    key_version: KeyVersion,
}

pub(super) fn describe_key_version(ctx: &Ctx<'_>, p: &Params) -> Res<KeyVersionResponse> {
    let key = key_ref(p, "KeyId")?;
    let wanted = required(p, "KeyVersionId")?;
    let loaded = ctx.kms.describe_key(ctx.caller, &key)?;
    versions(&loaded.record)
        .into_iter()
        .find(|v| v.key_version_id == wanted)
        .map(|key_version| KeyVersionResponse { key_version })
        .ok_or_else(version_not_found)
}

#[derive(Debug, Serialize)]
pub struct KeyVersions {
    #[serde(rename = "KeyVersion")]
    key_version: Vec<KeyVersion>,
}

/// Creates a key version: a new material version, used by new ciphertexts from now on (the
/// engine's on-demand rotation; symmetric keys in the Enabled state, as Alibaba documents).
pub(super) fn create_key_version(ctx: &Ctx<'_>, p: &Params) -> Res<KeyVersionResponse> {
    let key = key_ref(p, "KeyId")?;
    let record = ctx.kms.rotate_key_on_demand(ctx.caller, &key)?;
    let current = record
        .meta
        .current_material
        .ok_or_else(|| KmsError::internal("rotated key without current material"))?;
    let wanted = key_version_id(&record.id, current);
    versions(&record)
        .into_iter()
        .find(|v| v.key_version_id == wanted)
        .map(|key_version| KeyVersionResponse { key_version })
        .ok_or_else(version_not_found)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyVersionsResponse {
    key_versions: KeyVersions,
    total_count: usize,
    page_number: usize,
    page_size: usize,
}

pub(super) fn list_key_versions(ctx: &Ctx<'_>, p: &Params) -> Res<ListKeyVersionsResponse> {
    let key = key_ref(p, "KeyId")?;
    let page = page_args(p)?;
    let all = versions(&ctx.kms.describe_key(ctx.caller, &key)?.record);
    let total_count = all.len();
    Ok(ListKeyVersionsResponse {
        key_versions: KeyVersions {
            key_version: page.slice(all),
        },
        total_count,
        page_number: page.number,
        page_size: page.size,
    })
}

// ----- rotation -------------------------------------------------------------------------------

/// Alibaba's automatic rotation interval, 7–730 days (the UpdateRotationPolicy reference; the
/// CreateKey reference says 7–365: the wider range is accepted). AWS's is 90–2560.
pub(super) const ROTATION_DAYS: (u32, u32) = (7, 730);
/// Alibaba's default interval when rotation is enabled at creation without one.
pub(super) const DEFAULT_ROTATION_DAYS: u32 = 365;

/// `RotationInterval`: `<integer><d|h|m|s>`, e.g. `7d` or `604800s`. The engine rotates in whole
/// days, so an interval must be a whole number of days.
pub(super) fn rotation_days(raw: &str) -> Res<u32> {
    let invalid = || AliyunError::invalid("RotationInterval");
    let split = raw.len().checked_sub(1).ok_or_else(invalid)?;
    let (number, unit) = raw.split_at(split);
    let unit_secs: u64 = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(invalid()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let secs = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .ok_or_else(invalid)?;
    let (min, max) = ROTATION_DAYS;
    let days = u32::try_from(secs / 86_400).map_err(|_| invalid())?;
    if secs % 86_400 != 0 || !(min..=max).contains(&days) {
        return Err(invalid());
    }
    Ok(days)
}

pub(super) fn update_rotation_policy(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let key = key_ref(p, "KeyId")?;
    let enable = boolean(p, "EnableAutomaticRotation")?
        .ok_or_else(|| AliyunError::missing("EnableAutomaticRotation"))?;
    if enable {
        let days = rotation_days(required(p, "RotationInterval")?)?;
        ctx.kms.enable_key_rotation(ctx.caller, &key, days)?;
    } else {
        ctx.kms.disable_key_rotation(ctx.caller, &key)?;
    }
    Ok(Empty {})
}
