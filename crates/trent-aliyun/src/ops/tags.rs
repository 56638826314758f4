//! Tags in Alibaba's shapes: TagResource, UntagResource, ListResourceTags.

use serde::{Deserialize, Serialize};
use trent_core::KeyRef;

use super::wire::*;
use super::{Ctx, Res};
use crate::error::AliyunError;
use crate::params::Params;

/// The key a tagging call names; Alibaba also tags secrets and certificates, which Trent has not.
pub(super) fn tag_target(p: &Params) -> Res<KeyRef> {
    refuse(
        p,
        &["SecretName", "CertificateId"],
        "secrets and certificates",
    )?;
    key_ref(p, "KeyId")
}

/// Alibaba's tag-key rule: 1–128 characters, not starting with `aliyun` or `acs:`.
pub(super) fn check_tag_key(k: &str, param: &str) -> Res<()> {
    let reserved = k.starts_with("aliyun") || k.starts_with("acs:");
    if k.is_empty() || k.chars().count() > 128 || reserved {
        return Err(AliyunError::invalid(param));
    }
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct TagIn {
    #[serde(rename = "TagKey")]
    key: String,
    #[serde(rename = "TagValue")]
    value: String,
}

/// `Tags`: `[{"TagKey":"k","TagValue":"v"},...]` as a JSON string.
pub(super) fn tags(p: &Params) -> Res<Vec<(String, String)>> {
    let Some(raw) = optional(p, "Tags") else {
        return Ok(Vec::new());
    };
    let parsed: Vec<TagIn> = serde_json::from_str(raw).map_err(|_| AliyunError::invalid("Tags"))?;
    parsed
        .into_iter()
        .map(|t| {
            check_tag_key(&t.key, "Tags")?;
            if t.value.chars().count() > 128 {
                return Err(AliyunError::invalid("Tags"));
            }
            Ok((t.key, t.value))
        })
        .collect()
}

pub(super) fn tag_resource(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let key = tag_target(p)?;
    required(p, "Tags")?;
    ctx.kms.tag_resource(ctx.caller, &key, &tags(p)?)?;
    Ok(Empty {})
}

/// `TagKeys`: a JSON array of strings (what the SDK sends) or a comma-separated list (what the
/// API reference describes).
pub(super) fn untag_resource(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let key = tag_target(p)?;
    let raw = required(p, "TagKeys")?;
    let keys: Vec<String> = if raw.trim_start().starts_with('[') {
        serde_json::from_str(raw).map_err(|_| AliyunError::invalid("TagKeys"))?
    } else {
        raw.split(',').map(|k| k.trim().to_owned()).collect()
    };
    for k in &keys {
        check_tag_key(k, "TagKeys")?;
    }
    ctx.kms.untag_resource(ctx.caller, &key, &keys)?;
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagEntry {
    key_id: String,
    tag_key: String,
    tag_value: String,
}

#[derive(Debug, Serialize)]
pub struct Tags {
    #[serde(rename = "Tag")]
    tag: Vec<TagEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    tags: Tags,
}

pub(super) fn list_resource_tags(ctx: &Ctx<'_>, p: &Params) -> Res<ListResourceTagsResponse> {
    let key = key_ref(p, "KeyId")?;
    let all = drain(|m| ctx.kms.list_resource_tags(ctx.caller, &key, LIST_BATCH, m))?;
    let key_id = ctx.kms.resolve(ctx.caller, &key)?.to_string();
    let tag = all
        .into_iter()
        .map(|(tag_key, tag_value)| TagEntry {
            key_id: key_id.clone(),
            tag_key,
            tag_value,
        })
        .collect();
    Ok(ListResourceTagsResponse { tags: Tags { tag } })
}
