//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, with AWS's
//! member constraints and response shapes (key ARNs, `IssuingAccount` as the account's root
//! ARN, `CreationDate` in epoch seconds, `Constraints`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trent_core::engine::NewGrant;
use trent_core::{GrantConstraint, GrantOperation, KeyRefForms, KmsError};

use super::{dry_run, grant_tokens, key_ref, Ctx, Empty, Res};
use crate::wire::*;

#[derive(Debug, Deserialize, Serialize, Default, Clone, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Constraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_equals: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantRequest {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    retiring_principal: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<Constraints>,
    grant_tokens: Option<Vec<String>>,
    name: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    grant_token: String,
    grant_id: String,
}

/// A principal member: 1–256 characters of `[\w+=,.@:/-]`.
fn principal(value: &str, member: &str) -> Result<(), KmsError> {
    check_len(value.chars().count(), 1, 256, member, Some(value))?;
    check_pattern(value, member, r"^[\w+=,.@:/-]+$", |c| {
        c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)
    })
}

fn constraint(c: &Option<Constraints>) -> Result<Option<GrantConstraint>, KmsError> {
    let Some(c) = c else { return Ok(None) };
    let check = |pairs: &BTreeMap<String, String>| {
        if pairs.len() > 8 || pairs.values().any(|v| v.chars().count() > 384) {
            return Err(validation(
                "Value at 'constraints' failed to satisfy constraint: at most 8 pairs, values of at most 384 characters",
            ));
        }
        Ok(pairs.clone())
    };
    match (&c.encryption_context_subset, &c.encryption_context_equals) {
        (Some(_), Some(_)) => Err(KmsError::Validation(
            "Constraints may have EncryptionContextSubset or EncryptionContextEquals, not both."
                .into(),
        )),
        (Some(s), None) => Ok(Some(GrantConstraint::Subset(check(s)?))),
        (None, Some(e)) => Ok(Some(GrantConstraint::Equals(check(e)?))),
        (None, None) => Ok(None),
    }
}

fn constraints_out(c: &Option<GrantConstraint>) -> Option<Constraints> {
    c.as_ref().map(|c| match c {
        GrantConstraint::Subset(p) => Constraints {
            encryption_context_subset: Some(p.clone()),
            ..Constraints::default()
        },
        GrantConstraint::Equals(p) => Constraints {
            encryption_context_equals: Some(p.clone()),
            ..Constraints::default()
        },
    })
}

pub(super) fn create_grant(ctx: &Ctx<'_>, req: CreateGrantRequest) -> Res<CreateGrantResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let grantee = required(&req.grantee_principal, "granteePrincipal")?;
    principal(grantee, "granteePrincipal")?;
    if let Some(r) = &req.retiring_principal {
        principal(r, "retiringPrincipal")?;
    }
    let names = required(&req.operations, "operations")?;
    let mut operations = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let op: GrantOperation = parse_enum(name, &format!("operations.{}.member", i + 1))?;
        if !operations.contains(&op) {
            operations.push(op);
        }
    }
    if operations.is_empty() {
        return Err(validation(
            "Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1",
        )
        .into());
    }
    if let Some(name) = &req.name {
        check_len(name.chars().count(), 1, 256, "name", Some(name))?;
        check_pattern(name, "name", "^[a-zA-Z0-9:/_-]+$", |c| {
            c.is_ascii_alphanumeric() || ":/_-".contains(c)
        })?;
    }
    grant_tokens(&req.grant_tokens)?;
    let new = NewGrant {
        grantee: grantee.clone(),
        retiring: req.retiring_principal.clone(),
        operations,
        constraint: constraint(&req.constraints)?,
        name: req.name.clone(),
        dry_run: req.dry_run == Some(true),
    };
    let created = ctx.kms.create_grant(ctx.caller, &key, new)?;
    dry_run(
        req.dry_run,
        CreateGrantResponse {
            grant_token: created.token,
            grant_id: created.id,
        },
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsRequest {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRetirableGrantsRequest {
    retiring_principal: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    key_id: String,
    grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    creation_date: Epoch,
    grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<Constraints>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    grants: Vec<GrantListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

fn grants_page(
    page: trent_core::engine::Page<trent_core::engine::GrantEntry>,
) -> ListGrantsResponse {
    ListGrantsResponse {
        truncated: page.next_marker.is_some(),
        next_marker: page.next_marker,
        grants: page
            .items
            .into_iter()
            .map(|e| GrantListEntry {
                key_id: e.key_arn,
                grant_id: e.grant.id,
                name: e.grant.name,
                creation_date: Epoch(e.grant.created_at),
                grantee_principal: e.grant.grantee,
                retiring_principal: e.grant.retiring,
                issuing_account: format!("arn:aws:iam::{}:root", e.grant.issuing_account),
                operations: e
                    .grant
                    .operations
                    .iter()
                    .map(|o| o.as_str().to_owned())
                    .collect(),
                constraints: constraints_out(&e.grant.constraint),
            })
            .collect(),
    }
}

pub(super) fn list_grants(ctx: &Ctx<'_>, req: ListGrantsRequest) -> Res<ListGrantsResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let limit = limit(req.limit, 100, 50)?;
    if let Some(g) = &req.grantee_principal {
        principal(g, "granteePrincipal")?;
    }
    let page = ctx.kms.list_grants(
        ctx.caller,
        &key,
        req.grant_id.as_deref(),
        req.grantee_principal.as_deref(),
        limit,
        marker(&req.marker)?,
    )?;
    Ok(grants_page(page))
}

pub(super) fn list_retirable_grants(
    ctx: &Ctx<'_>,
    req: ListRetirableGrantsRequest,
) -> Res<ListGrantsResponse> {
    let retiring = required(&req.retiring_principal, "retiringPrincipal")?;
    principal(retiring, "retiringPrincipal")?;
    let limit = limit(req.limit, 100, 50)?;
    let page = ctx
        .kms
        .list_retirable_grants(ctx.caller, retiring, limit, marker(&req.marker)?)?;
    Ok(grants_page(page))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetireGrantRequest {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

pub(super) fn retire_grant(ctx: &Ctx<'_>, req: RetireGrantRequest) -> Res<Empty> {
    let key = match &req.key_id {
        Some(_) => Some(key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?),
        None => None,
    };
    ctx.kms.retire_grant(
        ctx.caller,
        req.grant_token.as_deref(),
        key.as_ref(),
        req.grant_id.as_deref(),
        req.dry_run == Some(true),
    )?;
    dry_run(req.dry_run, Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeGrantRequest {
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

pub(super) fn revoke_grant(ctx: &Ctx<'_>, req: RevokeGrantRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let grant_id = required(&req.grant_id, "grantId")?;
    ctx.kms
        .revoke_grant(ctx.caller, &key, grant_id, req.dry_run == Some(true))?;
    dry_run(req.dry_run, Empty {})
}
