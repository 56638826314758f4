//! Key lifecycle and metadata: CreateKey, DescribeKey, ListKeys, state changes, descriptions,
//! key policies.

use serde::{Deserialize, Serialize};
use trent_core::engine::NewKey;
use trent_core::{
    DeletionProtection, KeyRecord, KeyRef, KeySpec, KeyState, KeyUsage, KmsError, Origin, Scope,
};

use super::tags::tags;
use super::versions::{rotation_days, version_date, DEFAULT_ROTATION_DAYS};
use super::wire::*;
use super::{Ctx, Res};
use crate::error::AliyunError;
use crate::params::Params;

// ----- key metadata ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    key_id: String,
    arn: String,
    key_state: KeyState,
    key_spec: &'static str,
    key_usage: &'static str,
    origin: &'static str,
    creation_date: String,
    creator: String,
    description: String,
    protection_level: &'static str,
    automatic_rotation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<String>,
    /// Alibaba sends absent dates as empty strings.
    material_expire_time: String,
    delete_date: String,
    deletion_protection: &'static str,
    /// Present only while protection is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_protection_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_key_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_rotation_date: Option<String>,
}

/// Alibaba has no multi-Region keys: a multi-Region primary waiting for its replicas' deletion
/// (AWS's `PendingReplicaDeletion`) is a key pending deletion there.
fn aliyun_state(state: KeyState) -> KeyState {
    match state {
        KeyState::PendingReplicaDeletion => KeyState::PendingDeletion,
        other => other,
    }
}

pub(super) fn metadata(r: &KeyRecord) -> KeyMetadata {
    let m = &r.meta;
    KeyMetadata {
        key_id: r.id.to_string(),
        arn: key_arn(&r.scope, &r.id),
        key_state: aliyun_state(m.state),
        key_spec: wire_name(KEY_SPECS, m.key_spec, m.key_spec.as_str()),
        key_usage: wire_name(KEY_USAGES, m.key_usage, m.key_usage.as_str()),
        origin: wire_name(ORIGINS, m.origin, m.origin.as_str()),
        creation_date: date(m.created_at),
        creator: r.scope.account.0.clone(),
        description: m.description.clone(),
        protection_level: "SOFTWARE",
        automatic_rotation: if m.rotation.period_days.is_some() {
            "Enabled"
        } else {
            "Disabled"
        },
        // Alibaba reports the interval in seconds, e.g. "31536000s".
        rotation_interval: m
            .rotation
            .period_days
            .map(|d| format!("{}s", u64::from(d) * 86_400)),
        next_rotation_date: m.rotation.next_rotation.map(date),
        material_expire_time: r.import_expiration().1.map(date).unwrap_or_default(),
        delete_date: m.deletion_date.map(date).unwrap_or_default(),
        deletion_protection: if m.deletion_protection.is_some() {
            "Enabled"
        } else {
            "Disabled"
        },
        deletion_protection_description: m
            .deletion_protection
            .as_ref()
            .map(|d| d.description.clone()),
        primary_key_version: m.current_material.map(|v| key_version_id(&r.id, v)),
        // When the primary version was made: its rotation, or the key's creation.
        last_rotation_date: m.current_material.map(|v| date(version_date(r, v))),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataResponse {
    key_metadata: KeyMetadata,
}

// ----- key lifecycle --------------------------------------------------------------------------

pub(super) fn create_key(ctx: &Ctx<'_>, p: &Params) -> Res<KeyMetadataResponse> {
    refuse(
        p,
        &["DKMSInstanceId", "KeyStorageMechanism"],
        "KMS instances",
    )?;
    // Checked before the key exists, so a bad interval creates nothing.
    let rotation = match boolean(p, "EnableAutomaticRotation")? {
        Some(true) => Some(match optional(p, "RotationInterval") {
            Some(interval) => rotation_days(interval)?,
            None => DEFAULT_ROTATION_DAYS,
        }),
        _ => None,
    };
    let description = p.get("Description").unwrap_or_default();
    if description.chars().count() > 8192 {
        return Err(AliyunError::invalid("Description"));
    }
    let key_spec = match optional(p, "KeySpec") {
        Some(s) if UNSERVED_KEY_SPECS.contains(&s) => {
            return Err(AliyunError::unsupported(format_args!("KeySpec {s}")))
        }
        Some(s) => from_wire(KEY_SPECS, s, "KeySpec")?,
        None => KeySpec::SymmetricDefault,
    };
    let key_usage = match optional(p, "KeyUsage") {
        Some(u) => from_wire(KEY_USAGES, u, "KeyUsage")?,
        // Alibaba: SIGN/VERIFY by default for keys that can sign, else ENCRYPT/DECRYPT.
        None if key_spec == KeySpec::SymmetricDefault => KeyUsage::EncryptDecrypt,
        None => KeyUsage::SignVerify,
    };
    let origin = match optional(p, "Origin") {
        Some(o) => from_wire(ORIGINS, o, "Origin")?,
        None => Origin::AwsKms,
    };
    match optional(p, "ProtectionLevel") {
        None | Some("SOFTWARE") => {}
        Some("HSM") => {
            return Err(AliyunError::bad_request(
                "Unsupported.ProtectionLevel",
                "This server keeps keys in software: ProtectionLevel HSM is not available.",
            ))
        }
        Some(_) => return Err(AliyunError::invalid("ProtectionLevel")),
    }
    // The engine rotates only symmetric keys with generated material; refuse the combination
    // up front rather than create a key and then fail to turn its rotation on.
    if rotation.is_some() && (key_spec != KeySpec::SymmetricDefault || origin != Origin::AwsKms) {
        return Err(AliyunError::unsupported(
            "automatic rotation of asymmetric or imported keys",
        ));
    }
    let record = ctx.kms.create_key(
        ctx.caller,
        NewKey {
            description: description.to_owned(),
            key_spec,
            key_usage,
            origin,
            // Stored in Alibaba's grammar, which the gate does not read: it decides such a key
            // as AWS's default policy would (the account's identity policies). A document in
            // AWS's grammar is checked and enforced as AWS's.
            policy: Some(match optional(p, "Policy") {
                Some(policy) => bounded_policy(policy)?.to_owned(),
                None => default_policy(&ctx.caller.scope),
            }),
            tags: tags(p)?,
            multi_region: false,
            bypass_policy_lockout_safety_check: false,
        },
    )?;
    let record = match rotation {
        Some(days) => {
            let key = KeyRef::Id(record.id);
            ctx.kms.enable_key_rotation(ctx.caller, &key, days)?;
            ctx.kms.describe_key(ctx.caller, &key)?.record.clone()
        }
        None => record,
    };
    Ok(KeyMetadataResponse {
        key_metadata: metadata(&record),
    })
}

pub(super) fn describe_key(ctx: &Ctx<'_>, p: &Params) -> Res<KeyMetadataResponse> {
    let loaded = ctx.kms.describe_key(ctx.caller, &key_ref(p, "KeyId")?)?;
    Ok(KeyMetadataResponse {
        key_metadata: metadata(&loaded.record),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyEntry {
    key_id: String,
    key_arn: String,
}

#[derive(Debug, Serialize)]
pub struct Keys {
    #[serde(rename = "Key")]
    key: Vec<KeyEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    keys: Keys,
    total_count: usize,
    page_number: usize,
    page_size: usize,
}

/// One of ListKeys' `Filters`: `{"Key":"KeyState","Values":["Enabled","Disabled"]}`.
#[derive(Deserialize)]
pub(super) struct KeyFilter {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Values")]
    values: Vec<String>,
}

/// `Filters`, a JSON array of at most 10 filters of at most 10 values each; a key matches when
/// every filter has its value among the filter's values.
pub(super) fn key_filters(p: &Params) -> Res<Vec<KeyFilter>> {
    let Some(raw) = optional(p, "Filters") else {
        return Ok(Vec::new());
    };
    let filters: Vec<KeyFilter> =
        serde_json::from_str(raw).map_err(|_| AliyunError::invalid("Filters"))?;
    if filters.len() > 10 || filters.iter().any(|f| f.values.len() > 10) {
        return Err(AliyunError::invalid("Filters"));
    }
    Ok(filters)
}

pub(super) fn key_matches(r: &KeyRecord, filters: &[KeyFilter]) -> Res<bool> {
    for f in filters {
        let value = match f.key.as_str() {
            "KeyState" => aliyun_state(r.meta.state).as_str(),
            "KeySpec" => wire_name(KEY_SPECS, r.meta.key_spec, r.meta.key_spec.as_str()),
            "KeyUsage" => wire_name(KEY_USAGES, r.meta.key_usage, r.meta.key_usage.as_str()),
            "ProtectionLevel" => "SOFTWARE",
            // Every key here is a user's (no keys made by cloud services).
            "CreatorType" => "User",
            _ => return Err(AliyunError::invalid("Filters")),
        };
        if !f.values.iter().any(|v| v == value) {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) fn list_keys(ctx: &Ctx<'_>, p: &Params) -> Res<ListKeysResponse> {
    let filters = key_filters(p)?;
    let page = page_args(p)?;
    let mut all = drain(|m| ctx.kms.list_keys(ctx.caller, LIST_BATCH, m))?;
    if !filters.is_empty() {
        let mut kept = Vec::with_capacity(all.len());
        for k in all {
            match ctx.kms.describe_key(ctx.caller, &KeyRef::Id(k.id)) {
                Ok(loaded) if key_matches(&loaded.record, &filters)? => kept.push(k),
                Ok(_) => {}
                // Destroyed since it was listed.
                Err(KmsError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        all = kept;
    }
    let total_count = all.len();
    let key = page
        .slice(all)
        .into_iter()
        .map(|k| KeyEntry {
            key_id: k.id.to_string(),
            key_arn: key_arn(&ctx.caller.scope, &k.id),
        })
        .collect();
    Ok(ListKeysResponse {
        keys: Keys { key },
        total_count,
        page_number: page.number,
        page_size: page.size,
    })
}

pub(super) fn enable_key(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    ctx.kms.enable_key(ctx.caller, &key_ref(p, "KeyId")?)?;
    Ok(Empty {})
}

pub(super) fn disable_key(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    ctx.kms.disable_key(ctx.caller, &key_ref(p, "KeyId")?)?;
    Ok(Empty {})
}

/// Alibaba's deletion window: 7–366 days, no default (AWS: 7–30, default 30).
pub(super) const PENDING_WINDOW_DAYS: (i64, i64) = (7, 366);

pub(super) fn schedule_key_deletion(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let key = key_ref(p, "KeyId")?;
    required(p, "PendingWindowInDays")?;
    let (min, max) = PENDING_WINDOW_DAYS;
    let days = int(p, "PendingWindowInDays", min, max)?.unwrap_or(min) as u32;
    ctx.kms.schedule_key_deletion(ctx.caller, &key, days)?;
    Ok(Empty {})
}

pub(super) fn cancel_key_deletion(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    ctx.kms
        .cancel_key_deletion(ctx.caller, &key_ref(p, "KeyId")?)?;
    Ok(Empty {})
}

/// The key SetDeletionProtection names: `ProtectedResourceArn` (a key ARN, the documented
/// parameter) or `KeyId` (which the current SDK and Terraform send). Both at once is refused
/// rather than one silently preferred.
fn protected_key(p: &Params) -> Res<KeyRef> {
    match (optional(p, "ProtectedResourceArn"), optional(p, "KeyId")) {
        (Some(_), Some(_)) => Err(AliyunError::invalid("KeyId")),
        (Some(arn), None) if arn.starts_with("acs:kms:") => match parse_key_ref(arn)? {
            key @ KeyRef::KeyArn { .. } => Ok(key),
            _ => Err(AliyunError::invalid("ProtectedResourceArn")),
        },
        (Some(_), None) => Err(AliyunError::invalid("ProtectedResourceArn")),
        (None, Some(_)) => key_ref(p, "KeyId"),
        (None, None) => Err(AliyunError::missing("ProtectedResourceArn")),
    }
}

pub(super) fn set_deletion_protection(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    refuse(p, &["KmsInstanceId"], "KMS instances")?;
    let key = protected_key(p)?;
    let enable = boolean(p, "EnableDeletionProtection")?
        .ok_or_else(|| AliyunError::missing("EnableDeletionProtection"))?;
    // The description "takes effect only when EnableDeletionProtection is true": ignored when
    // turning protection off. Held to the key description's limit.
    let protection = if enable {
        let description = p.get("DeletionProtectionDescription").unwrap_or_default();
        if description.chars().count() > 8192 {
            return Err(AliyunError::invalid("DeletionProtectionDescription"));
        }
        Some(DeletionProtection {
            description: description.to_owned(),
        })
    } else {
        None
    };
    ctx.kms
        .set_deletion_protection(ctx.caller, &key, protection)?;
    Ok(Empty {})
}

pub(super) fn update_key_description(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let key = key_ref(p, "KeyId")?;
    // Present but possibly empty: an empty description clears it.
    let description = p
        .get("Description")
        .ok_or_else(|| AliyunError::missing("Description"))?;
    if description.chars().count() > 8192 {
        return Err(AliyunError::invalid("Description"));
    }
    ctx.kms
        .update_key_description(ctx.caller, &key, description.to_owned())?;
    Ok(Empty {})
}

// ----- key policies ---------------------------------------------------------------------------

/// Alibaba's default key policy: the account's RAM identities may do anything with the key.
/// (Stored and returned; the gate reads only AWS's grammar, see `Kms::key_policy`.)
pub(super) fn default_policy(scope: &Scope) -> String {
    serde_json::json!({
        "Version": "1",
        "Statement": [{
            "Sid": "Enable User Permissions",
            "Effect": "Allow",
            "Principal": {"RAM": [format!("acs:ram::{}:*", scope.account.0)]},
            "Action": ["kms:*"],
            "Resource": ["*"],
        }]
    })
    .to_string()
}

/// `PolicyName`: only `default` exists.
pub(super) fn policy_name(p: &Params) -> &str {
    optional(p, "PolicyName").unwrap_or(trent_core::engine::POLICY_NAME)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyResponse {
    policy: String,
}

pub(super) fn get_key_policy(ctx: &Ctx<'_>, p: &Params) -> Res<PolicyResponse> {
    let key = key_ref(p, "KeyId")?;
    Ok(PolicyResponse {
        policy: ctx.kms.get_key_policy(ctx.caller, &key, policy_name(p))?,
    })
}

/// A key policy of at most 32 KiB (Alibaba's limit), or `InvalidParameter`.
fn bounded_policy(policy: &str) -> Res<&str> {
    if policy.len() > 32 * 1024 {
        return Err(AliyunError::invalid("Policy"));
    }
    Ok(policy)
}

pub(super) fn set_key_policy(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let key = key_ref(p, "KeyId")?;
    let policy = bounded_policy(required(p, "Policy")?)?;
    ctx.kms
        .put_key_policy(ctx.caller, &key, policy_name(p), policy.to_owned(), false)?;
    Ok(Empty {})
}
