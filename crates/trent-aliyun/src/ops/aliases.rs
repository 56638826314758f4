//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, ListAliasesByKeyId.

use serde::Serialize;
use trent_core::KeyRef;

use super::wire::*;
use super::{Ctx, Res};
use crate::params::Params;

pub(super) fn create_alias(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let name = alias_name(p)?;
    ctx.kms
        .create_alias(ctx.caller, name, &key_ref(p, "KeyId")?)?;
    Ok(Empty {})
}

/// Only the destination key's state matters (the seed document's special case; the engine's
/// table row for UpdateAlias is checked against the destination alone).
pub(super) fn update_alias(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    let name = alias_name(p)?;
    ctx.kms
        .update_alias(ctx.caller, name, &key_ref(p, "KeyId")?)?;
    Ok(Empty {})
}

pub(super) fn delete_alias(ctx: &Ctx<'_>, p: &Params) -> Res<Empty> {
    ctx.kms.delete_alias(ctx.caller, alias_name(p)?)?;
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasEntry {
    alias_name: String,
    alias_arn: String,
    key_id: String,
}

#[derive(Debug, Serialize)]
pub struct Aliases {
    #[serde(rename = "Alias")]
    alias: Vec<AliasEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    aliases: Aliases,
    total_count: usize,
    page_number: usize,
    page_size: usize,
}

pub(super) fn aliases_page(
    ctx: &Ctx<'_>,
    p: &Params,
    key: Option<&KeyRef>,
) -> Res<ListAliasesResponse> {
    let page = page_args(p)?;
    let all = drain(|m| ctx.kms.list_aliases(ctx.caller, key, LIST_BATCH, m))?;
    let total_count = all.len();
    let alias = page
        .slice(all)
        .into_iter()
        .map(|a| AliasEntry {
            alias_arn: alias_arn(&a.scope, &a.name),
            alias_name: a.name.0,
            key_id: a.target.to_string(),
        })
        .collect();
    Ok(ListAliasesResponse {
        aliases: Aliases { alias },
        total_count,
        page_number: page.number,
        page_size: page.size,
    })
}

pub(super) fn list_aliases(ctx: &Ctx<'_>, p: &Params) -> Res<ListAliasesResponse> {
    aliases_page(ctx, p, None)
}

pub(super) fn list_aliases_by_key_id(ctx: &Ctx<'_>, p: &Params) -> Res<ListAliasesResponse> {
    aliases_page(ctx, p, Some(&key_ref(p, "KeyId")?))
}
