//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and grant
//! tokens. Grants live in the key's record (so they move with its compare-and-set writes and
//! are destroyed with it) and take effect at once: a token proves a grant that is already
//! effective, so a valid token is honoured by simply being accepted.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{Caller, Facts, Kms, Page};
use crate::error::KmsError;
use crate::ids::{KeyRef, KeyRefForms};
use crate::model::*;
use crate::state::KeyOp;

/// AWS's quota of grants per key.
pub const MAX_GRANTS_PER_KEY: usize = 50_000;
/// The most bytes a key's grants may take in its record ([`Grant::weight`]), about 5,000 grants
/// of the usual size. Grants live in the key's record, which every write of the key rewrites
/// and every concurrent writer copies: 50,000 grants of the largest size would make it
/// hundreds of MB.
pub const MAX_GRANT_BYTES_PER_KEY: usize = 2 * 1024 * 1024;
/// AWS's limit of grant tokens in one request.
pub const MAX_GRANT_TOKENS: usize = 10;
const TOKEN_PREFIX: &str = "trent-grant-v1|";

/// What CreateGrant asks for, checked for shape by the dialect.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub grantee: String,
    pub retiring: Option<String>,
    pub operations: Vec<GrantOperation>,
    pub constraint: Option<GrantConstraint>,
    pub name: Option<String>,
    /// Decide and check everything, keep nothing (`DryRun`).
    pub dry_run: bool,
}

/// A created (or, by `Name`, found) grant and a fresh token for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedGrant {
    pub id: String,
    pub token: String,
}

/// A grant with its key's ARN, as the list operations return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantEntry {
    pub key_arn: String,
    pub grant: Grant,
}

/// Checks the `GrantTokens` of a request: at most ten, each one this server issued.
pub fn check_grant_tokens(tokens: &[String]) -> Result<(), KmsError> {
    if tokens.len() > MAX_GRANT_TOKENS {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to {MAX_GRANT_TOKENS}"
        )));
    }
    for token in tokens {
        parse_token(token)?;
    }
    Ok(())
}

/// A token names the key (by ARN) and the grant, plus a random part so every CreateGrant call
/// returns a different token (as AWS's do).
fn issue_token(key_arn: &str, grant_id: &str) -> Result<String, KmsError> {
    let nonce = trent_crypto::SecretBytes::random(16)?;
    Ok(STANDARD.encode(format!(
        "{TOKEN_PREFIX}{key_arn}|{grant_id}|{}",
        hex::encode(nonce.expose())
    )))
}

/// The key and grant a token names.
fn parse_token(token: &str) -> Result<(KeyRef, String), KmsError> {
    let bytes = STANDARD
        .decode(token)
        .map_err(|_| KmsError::InvalidGrantToken)?;
    let text = String::from_utf8(bytes).map_err(|_| KmsError::InvalidGrantToken)?;
    let mut parts = text
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(KmsError::InvalidGrantToken)?
        .split('|');
    let (Some(arn), Some(id), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(KmsError::InvalidGrantToken);
    };
    let key = KeyRef::parse(arn, KeyRefForms::KeyOnly).map_err(|_| KmsError::InvalidGrantToken)?;
    if !is_grant_id(id) {
        return Err(KmsError::InvalidGrantToken);
    }
    Ok((key, id.to_owned()))
}

fn is_grant_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The operations a grant may allow on a key of this kind (AWS's grants page).
fn allowed_operations(meta: &KeyMeta) -> Vec<GrantOperation> {
    use GrantOperation as G;
    let mut ops = vec![G::DescribeKey, G::CreateGrant, G::RetireGrant];
    ops.extend_from_slice(match (meta.key_spec.kind(), meta.key_usage) {
        (KeyKind::Symmetric, _) => &[
            G::Encrypt,
            G::Decrypt,
            G::ReEncryptFrom,
            G::ReEncryptTo,
            G::GenerateDataKey,
            G::GenerateDataKeyWithoutPlaintext,
            G::GenerateDataKeyPair,
            G::GenerateDataKeyPairWithoutPlaintext,
        ][..],
        (KeyKind::Hmac(_), _) => &[G::GenerateMac, G::VerifyMac][..],
        (_, KeyUsage::EncryptDecrypt) => &[
            G::Encrypt,
            G::Decrypt,
            G::ReEncryptFrom,
            G::ReEncryptTo,
            G::GetPublicKey,
        ][..],
        (_, KeyUsage::SignVerify) => &[G::Sign, G::Verify, G::GetPublicKey][..],
        (_, KeyUsage::KeyAgreement) => &[G::DeriveSharedSecret, G::GetPublicKey][..],
        (_, KeyUsage::EncapsulateDecapsulate) => {
            &[G::Encapsulate, G::Decapsulate, G::GetPublicKey][..]
        }
        _ => &[][..],
    });
    ops
}

impl Kms {
    pub fn create_grant(
        &self,
        caller: &Caller,
        key: &KeyRef,
        new: NewGrant,
    ) -> Result<CreatedGrant, KmsError> {
        let candidate = Grant {
            id: hex::encode(trent_crypto::SecretBytes::random(32)?.expose()),
            name: new.name.clone(),
            grantee: new.grantee.clone(),
            retiring: new.retiring.clone(),
            operations: new.operations.clone(),
            constraint: new.constraint.clone(),
            issuing_account: caller.identity.principal.account().to_owned(),
            created_at: self.now(),
        };
        // kms:EncryptionContext:<k> and kms:EncryptionContextKeys of a CreateGrant are those
        // of the grant's constraint, as AWS evaluates them.
        let constraint = candidate.constraint.as_ref().map(|c| match c {
            GrantConstraint::Subset(pairs) | GrantConstraint::Equals(pairs) => pairs,
        });
        let facts = Facts {
            new_grant: Some(&candidate),
            grant_call: true,
            encryption_context: constraint,
            ..Facts::default()
        };
        let (id, record) = self.modify(caller, key, KeyOp::CreateGrant, &facts, |r, now| {
            let allowed = allowed_operations(&r.meta);
            if let Some(op) = candidate.operations.iter().find(|o| !allowed.contains(o)) {
                return Err(KmsError::Validation(format!(
                    "{op} is not a valid grant operation for key spec {} and key usage {}.",
                    r.meta.key_spec, r.meta.key_usage
                )));
            }
            if candidate.constraint.is_some() && r.meta.key_spec != KeySpec::SymmetricDefault {
                return Err(KmsError::Validation(
                    "Encryption context constraints are only supported for symmetric encryption KMS keys."
                        .into(),
                ));
            }
            // Name idempotency: the same request again finds the grant it made.
            if candidate.name.is_some() {
                let same = |g: &&Grant| {
                    g.name == candidate.name
                        && g.grantee == candidate.grantee
                        && g.retiring == candidate.retiring
                        && g.operations == candidate.operations
                        && g.constraint == candidate.constraint
                };
                if let Some(existing) = r.meta.grants.iter().find(same) {
                    return Ok(existing.id.clone());
                }
            }
            if r.meta.grants.len() >= MAX_GRANTS_PER_KEY {
                return Err(KmsError::LimitExceeded(format!(
                    "The request would exceed the limit of {MAX_GRANTS_PER_KEY} grants for {}.",
                    r.arn()
                )));
            }
            let weight: usize = r.meta.grants.iter().map(Grant::weight).sum();
            if weight + candidate.weight() > MAX_GRANT_BYTES_PER_KEY {
                return Err(KmsError::LimitExceeded(format!(
                    "The request would exceed the limit of {MAX_GRANT_BYTES_PER_KEY} bytes of grants for {}. Retire or revoke grants of this key first.",
                    r.arn()
                )));
            }
            if new.dry_run {
                return Ok(candidate.id.clone());
            }
            r.meta.grants.push(Grant {
                created_at: now,
                ..candidate.clone()
            });
            Ok(candidate.id.clone())
        })?;
        let token = issue_token(&record.arn(), &id)?;
        Ok(CreatedGrant { id, token })
    }

    /// Grants of a key, oldest first, optionally only one grant id or one grantee.
    pub fn list_grants(
        &self,
        caller: &Caller,
        key: &KeyRef,
        grant_id: Option<&str>,
        grantee: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<GrantEntry>, KmsError> {
        let facts = Facts {
            grant_call: true,
            ..Facts::default()
        };
        let loaded = self.admit_key(caller, key, KeyOp::ListGrants, &facts)?;
        if grant_id.is_some_and(|id| !is_grant_id(id)) {
            return Err(KmsError::InvalidGrantId);
        }
        let key_arn = loaded.arn();
        let entries = loaded
            .record
            .meta
            .grants
            .iter()
            .filter(|g| grant_id.is_none_or(|id| g.id == id))
            .filter(|g| grantee.is_none_or(|p| g.grantee == p))
            .map(|g| GrantEntry {
                key_arn: key_arn.clone(),
                grant: g.clone(),
            });
        page_after(entries, limit, marker)
    }

    /// Grants whose retiring principal is `retiring`, on the keys of the caller's account and
    /// region (the keys Trent can enumerate for it).
    pub fn list_retirable_grants(
        &self,
        caller: &Caller,
        retiring: &str,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<GrantEntry>, KmsError> {
        self.admit(caller, KeyOp::ListRetirableGrants, None, &Facts::default())?;
        let mut entries = Vec::new();
        let mut cursor = None;
        loop {
            let batch = self.store.list_keys(&caller.scope, cursor.as_ref(), 1000)?;
            let Some(last) = batch.last().copied() else {
                break;
            };
            for id in &batch {
                let Ok(loaded) = self.load(&caller.scope, id) else {
                    continue;
                };
                let arn = loaded.arn();
                entries.extend(
                    loaded
                        .record
                        .meta
                        .grants
                        .iter()
                        .filter(|g| g.retiring.as_deref() == Some(retiring))
                        .map(|g| GrantEntry {
                            key_arn: arn.clone(),
                            grant: g.clone(),
                        }),
                );
            }
            if batch.len() < 1000 {
                break;
            }
            cursor = Some(last);
        }
        page_after(entries.into_iter(), limit, marker)
    }

    /// Retires a grant named by its token, or by key and grant id.
    pub fn retire_grant(
        &self,
        caller: &Caller,
        token: Option<&str>,
        key: Option<&KeyRef>,
        grant_id: Option<&str>,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        let (key, grant_id) = match (token, key, grant_id) {
            (Some(token), _, _) => parse_token(token)?,
            (None, Some(key), Some(id)) => (key.clone(), id.to_owned()),
            _ => {
                return Err(KmsError::Validation(
                    "Either GrantToken, or both KeyId and GrantId must be specified.".into(),
                ))
            }
        };
        if !is_grant_id(&grant_id) {
            return Err(KmsError::InvalidGrantId);
        }
        let facts = Facts {
            grant_id: Some(&grant_id),
            ..Facts::default()
        };
        self.modify(caller, &key, KeyOp::RetireGrant, &facts, |r, _| {
            remove_grant(r, &grant_id, dry_run)
        })?;
        Ok(())
    }

    pub fn revoke_grant(
        &self,
        caller: &Caller,
        key: &KeyRef,
        grant_id: &str,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        if !is_grant_id(grant_id) {
            return Err(KmsError::InvalidGrantId);
        }
        let facts = Facts {
            grant_call: true,
            ..Facts::default()
        };
        self.modify(caller, key, KeyOp::RevokeGrant, &facts, |r, _| {
            remove_grant(r, grant_id, dry_run)
        })?;
        Ok(())
    }

    /// The key a grant token's grant is on, for tests of token handling.
    #[cfg(test)]
    fn token_key(token: &str) -> Option<KeyRef> {
        parse_token(token).ok().map(|(k, _)| k)
    }
}

/// Removes a grant of the key (or, for a dry run, only checks it is there).
fn remove_grant(record: &mut KeyRecord, grant_id: &str, dry_run: bool) -> Result<(), KmsError> {
    if !record.meta.grants.iter().any(|g| g.id == grant_id) {
        return Err(KmsError::InvalidGrantId);
    }
    if !dry_run {
        record.meta.grants.retain(|g| g.id != grant_id);
    }
    Ok(())
}

/// A page of entries after the one whose grant id is `marker`.
fn page_after(
    entries: impl Iterator<Item = GrantEntry>,
    limit: usize,
    marker: Option<&str>,
) -> Result<Page<GrantEntry>, KmsError> {
    let mut entries = entries.peekable();
    if let Some(marker) = marker {
        let mut found = false;
        for e in entries.by_ref() {
            if e.grant.id == marker {
                found = true;
                break;
            }
        }
        if !found {
            return Err(KmsError::InvalidMarker);
        }
    }
    let items: Vec<GrantEntry> = entries.take(limit + 1).collect();
    Ok(Page::from_overfetch(items, limit, |e| e.grant.id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_grant_and_others_are_refused() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/0b0e7c5e-0000-4000-8000-000000000000";
        let id = "a".repeat(64);
        let token = issue_token(arn, &id).unwrap();
        assert_ne!(token, issue_token(arn, &id).unwrap());
        assert!(check_grant_tokens(std::slice::from_ref(&token)).is_ok());
        assert!(matches!(
            Kms::token_key(&token),
            Some(KeyRef::KeyArn { .. })
        ));
        for bad in ["", "bm90IGEgdG9rZW4=", "!!!"] {
            assert_eq!(
                check_grant_tokens(&[bad.to_owned()]),
                Err(KmsError::InvalidGrantToken)
            );
        }
        assert!(check_grant_tokens(&vec![token; 11]).is_err());
    }

    #[test]
    fn constraints_compare_keys_case_insensitively_and_values_exactly() {
        let ctx = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let subset = GrantConstraint::Subset(ctx(&[("Dept", "IT")]));
        assert!(subset.allows(&ctx(&[("dept", "IT"), ("x", "y")])));
        assert!(!subset.allows(&ctx(&[("Dept", "it")])));
        let equals = GrantConstraint::Equals(ctx(&[("Dept", "IT")]));
        assert!(equals.allows(&ctx(&[("DEPT", "IT")])));
        assert!(!equals.allows(&ctx(&[("Dept", "IT"), ("x", "y")])));
        assert!(subset.is_narrowed_by(Some(&equals)));
        assert!(!equals.is_narrowed_by(Some(&subset)));
        assert!(!subset.is_narrowed_by(None));
    }
}
