//! Tags in Alibaba's shapes: TagResource, UntagResource, ListResourceTags, and the newer
//! batch API over the same tags: TagResources, UntagResources, ListTagResources.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_core::engine::MAX_TAGS;
use trent_core::state::KeyOp;
use trent_core::{KeyId, KeyRef, KmsError};

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

/// Alibaba's tag-value rule: at most 128 characters.
fn check_tag_value(v: &str, param: &str) -> Res<()> {
    if v.chars().count() > 128 {
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
            check_tag_value(&t.value, "Tags")?;
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

// ----- TagResources, UntagResources, ListTagResources ----------------------------------------

/// Alibaba's limits on one batch request: 50 resources, 20 tags or tag keys.
const MAX_RESOURCES: usize = 50;
const MAX_BATCH_TAGS: usize = 20;
/// ListTagResources' page: Alibaba returns 200 rows by default. `MaxResults` (not in the SDK
/// models, accepted for clients that page smaller) may ask for 1 to 200.
const TAG_PAGE: i64 = 200;

/// `RegionId` (required here; the caller's scope already reads it) and `ResourceType`: `key`.
/// Secrets are the other documented type, and Trent has none.
fn check_resource_type(p: &Params) -> Res<()> {
    required(p, "RegionId")?;
    match required(p, "ResourceType")? {
        "key" => Ok(()),
        _ => Err(AliyunError::invalid("ResourceType")),
    }
}

/// A flattened list of plain strings (`Name.1`, `Name.2`, …) of at most `max` elements.
fn string_list<'a>(p: &'a Params, name: &str, max: usize) -> Res<Vec<&'a str>> {
    let elements = p.indexed(name)?;
    if elements.len() > max {
        return Err(AliyunError::invalid(name));
    }
    elements
        .into_iter()
        .map(|e| match (e.get(""), e.len()) {
            (Some(v), 1) if !v.is_empty() => Ok(*v),
            _ => Err(AliyunError::invalid(name)),
        })
        .collect()
}

/// `ResourceId.N`: the keys, by id (or any form `KeyId` takes).
fn resource_ids(p: &Params) -> Res<Vec<KeyRef>> {
    string_list(p, "ResourceId", MAX_RESOURCES)?
        .into_iter()
        .map(|raw| Ok(parse_key_ref(raw)?))
        .collect()
}

/// `Tag.N.Key` / `Tag.N.Value`. A value may be absent (an empty value); a key may not.
fn batch_tags(p: &Params) -> Res<Vec<(String, Option<String>)>> {
    let elements = p.indexed("Tag")?;
    if elements.len() > MAX_BATCH_TAGS {
        return Err(AliyunError::invalid("Tag"));
    }
    elements
        .into_iter()
        .map(|e| {
            let key = e.get("Key").copied().unwrap_or_default();
            let value = e.get("Value").copied();
            if e.keys().any(|f| !matches!(*f, "Key" | "Value")) {
                return Err(AliyunError::invalid("Tag"));
            }
            check_tag_key(key, "Tag.N.Key")?;
            check_tag_value(value.unwrap_or_default(), "Tag.N.Value")?;
            Ok((key.to_owned(), value.map(str::to_owned)))
        })
        .collect()
}

/// Tags every named key with the same tags, key by key through the engine (and so under its tag
/// rules and the state table). Not atomic across keys: a refusal stops at that key, and the keys
/// before it keep their new tags.
pub(super) fn tag_resources(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    check_resource_type(p)?;
    let keys = resource_ids(p)?;
    if keys.is_empty() {
        return Err(AliyunError::missing("ResourceId"));
    }
    let tags: Vec<(String, String)> = batch_tags(p)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    if tags.is_empty() {
        return Err(AliyunError::missing("Tag"));
    }
    for key in &keys {
        ctx.kms.tag_resource(ctx.caller, key, &tags)?;
    }
    Ok(Empty {})
}

/// Removes `TagKey.N` from every named key; with no tag keys, `All=true` removes every tag (the
/// documented meaning of `All`), and neither is a missing `TagKey`. Not atomic across keys, as
/// TagResources.
pub(super) fn untag_resources(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    check_resource_type(p)?;
    let keys = resource_ids(p)?;
    if keys.is_empty() {
        return Err(AliyunError::missing("ResourceId"));
    }
    let tag_keys: Vec<String> = string_list(p, "TagKey", MAX_BATCH_TAGS)?
        .into_iter()
        .map(|k| check_tag_key(k, "TagKey").map(|()| k.to_owned()))
        .collect::<Res<_>>()?;
    let all = boolean(p, "All")?.unwrap_or(false);
    if tag_keys.is_empty() && !all {
        return Err(AliyunError::missing("TagKey"));
    }
    for key in &keys {
        if tag_keys.is_empty() {
            ctx.kms.untag_all(ctx.caller, key)?;
        } else {
            ctx.kms.untag_resource(ctx.caller, key, &tag_keys)?;
        }
    }
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceEntry {
    resource_id: String,
    resource_type: &'static str,
    tag_key: String,
    tag_value: String,
}

#[derive(Debug, Serialize)]
pub struct TagResourceList {
    #[serde(rename = "TagResource")]
    tag_resource: Vec<TagResourceEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResourcesResponse {
    tag_resources: TagResourceList,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// One row per (key, tag), ordered by key id then tag key. A `NextToken` names the last row
/// returned (base64 of `<key id>/<tag key>`), so a page continues after it even if rows before
/// it changed.
fn next_token(id: &KeyId, tag_key: &str) -> String {
    STANDARD.encode(format!("{id}/{tag_key}"))
}

fn parse_next_token(raw: &str) -> Res<(KeyId, String)> {
    let invalid = || AliyunError::invalid("NextToken");
    let text =
        String::from_utf8(STANDARD.decode(raw).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let (id, tag_key) = text.split_once('/').ok_or_else(invalid)?;
    Ok((KeyId::parse(id).ok_or_else(invalid)?, tag_key.to_owned()))
}

/// The tags of the named keys (or of every key in the caller's account and region), one row per
/// tag. `Tag.N` filters rows: a row is listed when it matches any of them, by key, and by value
/// too where the filter has one.
pub(super) fn list_tag_resources(ctx: &Ctx<'_>, p: &Params) -> Res<ListTagResourcesResponse> {
    check_resource_type(p)?;
    let named = resource_ids(p)?;
    let filters = batch_tags(p)?;
    let limit = int(p, "MaxResults", 1, TAG_PAGE)?.unwrap_or(TAG_PAGE) as usize;
    let after = optional(p, "NextToken").map(parse_next_token).transpose()?;
    // Each key as the request named it (another account's by ARN is listed there, through
    // the gate), or as ListKeys listed it.
    let keys: Vec<(KeyId, KeyRef)> = if named.is_empty() {
        drain(|m| ctx.kms.list_keys(ctx.caller, LIST_BATCH, m))?
            .into_iter()
            .map(|k| (k.id, KeyRef::Id(k.id)))
            .collect()
    } else {
        named
            .iter()
            .map(|k| {
                let id = ctx
                    .kms
                    .resolve_for(ctx.caller, k, KeyOp::ListResourceTags)?;
                Ok((id, k.clone()))
            })
            .collect::<Result<_, KmsError>>()?
    };
    // Sorted and without repeats, whatever order the request named the keys in.
    let mut rows: BTreeMap<(KeyId, String), String> = BTreeMap::new();
    for (id, key) in keys {
        // A key never holds more than MAX_TAGS tags: one call lists them all.
        let tags = match ctx.kms.list_resource_tags(ctx.caller, &key, MAX_TAGS, None) {
            Ok(page) => page.items,
            // Destroyed since ListKeys listed it: it has no tags to show.
            Err(KmsError::NotFound(_)) if named.is_empty() => continue,
            Err(e) => return Err(e.into()),
        };
        for (tag_key, tag_value) in tags {
            let wanted = filters.is_empty()
                || filters
                    .iter()
                    .any(|(k, v)| *k == tag_key && v.as_ref().is_none_or(|v| *v == tag_value));
            if wanted {
                rows.insert((id, tag_key), tag_value);
            }
        }
    }
    let mut rest = rows
        .into_iter()
        .filter(|(row, _)| after.as_ref().is_none_or(|marker| row > marker));
    let page: Vec<((KeyId, String), String)> = rest.by_ref().take(limit).collect();
    let next_token = match (rest.next(), page.last()) {
        (Some(_), Some(((id, tag_key), _))) => Some(next_token(id, tag_key)),
        _ => None,
    };
    let tag_resource = page
        .into_iter()
        .map(|((id, tag_key), tag_value)| TagResourceEntry {
            resource_id: id.to_string(),
            resource_type: "key",
            tag_key,
            tag_value,
        })
        .collect();
    Ok(ListTagResourcesResponse {
        tag_resources: TagResourceList { tag_resource },
        next_token,
    })
}
