//! Seeding: keys with fixed ids, aliases and (optionally) material, applied at every start.
//!
//! Owns: checking seed entries against the key rules, deciding what an entry adds to the store
//! (nothing for a key that exists; missing aliases), refusing conflicts, and writing everything
//! in one atomic commit; and the reverse, describing a scope's keys as seed entries.
//!
//! A seeded key is an `AWS_KMS`-origin key whose material version 1 is the given material (or
//! fresh material), sealed like any other. Ciphertexts name the key id and material version, so
//! two stores seeded with the same id and material open each other's ciphertexts.

use std::collections::{BTreeMap, HashSet};

use trent_crypto::{constant_time_eq, SecretBytes};

use super::{
    default_policy, generate_material, merge_tags, prepare_material, reject_reserved,
    unsupported_spec, Kms,
};
use crate::error::KmsError;
use crate::ids::{AliasName, KeyId, Scope};
use crate::model::*;
use crate::store::{StoreError, Write};

/// AWS's bounds on an automatic rotation period.
const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 90..=2560;

/// One key of a seed file, parsed (names and enums are typed; nothing checked against the
/// store yet).
#[derive(Debug, Clone)]
pub struct SeedKey {
    pub id: KeyId,
    pub scope: Scope,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub description: String,
    /// Symmetric and HMAC keys: the raw key; asymmetric keys: PKCS#8 DER.
    pub material: Option<SecretBytes>,
    /// `Enabled` or `Disabled`.
    pub state: KeyState,
    pub aliases: Vec<AliasName>,
    pub tags: Vec<(String, String)>,
    pub policy: Option<String>,
    pub rotation_period_days: Option<u32>,
}

/// Why a seed was refused: the entry (index in the file, from 0) and the reason.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("entry {index} (key {id}): {reason}")]
    Entry {
        index: usize,
        id: KeyId,
        reason: String,
    },
    /// A conflict the store found in the batch as a whole.
    #[error("{0}")]
    Batch(String),
    #[error("{0}")]
    Kms(#[from] KmsError),
}

/// What applying a seed changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedApplied {
    pub keys_created: usize,
    pub aliases_created: usize,
}

/// A scope's keys as seed entries, and the keys that could not be described as one.
#[derive(Debug)]
pub struct SeedExport {
    pub keys: Vec<SeedKey>,
    /// Keys left out, and why.
    pub skipped: Vec<(KeyId, &'static str)>,
    /// Keys exported without their material (with material requested), and why.
    pub without_material: Vec<(KeyId, &'static str)>,
}

impl Kms {
    /// Applies seed entries: creates the keys that do not exist and the aliases that are
    /// missing, in one atomic commit. Any invalid entry or conflict (an id used in another
    /// account or region, different material, an alias pointing elsewhere) refuses the whole
    /// seed, so nothing is half-applied.
    pub fn seed(&self, entries: &[SeedKey]) -> Result<SeedApplied, SeedError> {
        let mut writes = Vec::new();
        let mut applied = SeedApplied::default();
        let mut ids = HashSet::new();
        let mut aliases = HashSet::new();
        for (index, entry) in entries.iter().enumerate() {
            let refuse = |reason: String| SeedError::Entry {
                index,
                id: entry.id,
                reason,
            };
            if !ids.insert(entry.id) {
                return Err(refuse("the id appears twice in the seed".into()));
            }
            let material = entry.material.as_ref();
            match self
                .store
                .get_key(&entry.scope, &entry.id)
                .map_err(KmsError::from)?
            {
                Some(existing) => self.check_existing(&existing, material).map_err(refuse)?,
                None => {
                    let record = self.seed_record(entry).map_err(|e| refuse(e.to_string()))?;
                    writes.push(Write::InsertKey(record));
                    applied.keys_created += 1;
                }
            }
            for name in &entry.aliases {
                reject_reserved(name).map_err(|e| refuse(e.to_string()))?;
                if !aliases.insert((entry.scope.clone(), name.clone())) {
                    return Err(refuse(format!("alias {name} appears twice in the seed")));
                }
                match self
                    .store
                    .get_alias(&entry.scope, name)
                    .map_err(KmsError::from)?
                {
                    Some(a) if a.target == entry.id => {}
                    Some(a) => {
                        return Err(refuse(format!(
                            "alias {name} already points at key {}",
                            a.target
                        )))
                    }
                    None => {
                        let now = self.now();
                        writes.push(Write::InsertAlias(AliasRecord {
                            scope: entry.scope.clone(),
                            name: name.clone(),
                            target: entry.id,
                            created_at: now,
                            updated_at: now,
                        }));
                        applied.aliases_created += 1;
                    }
                }
            }
        }
        match self.store.commit(writes) {
            Ok(()) => {}
            // Key ids are unique across accounts and regions, but the store looks keys up by
            // scope: an id taken in another scope (or a key or alias created meanwhile) shows
            // only here, for the batch as a whole.
            Err(StoreError::Conflict | StoreError::AliasExists) => {
                return Err(SeedError::Batch(
                    "a seeded key id is already used in another account or region, or the store \
                     changed while the seed was applied; nothing was applied"
                        .into(),
                ))
            }
            Err(e) => return Err(KmsError::from(e).into()),
        }
        self.invalidate_aliases();
        Ok(applied)
    }

    /// An existing key satisfies its entry unless the entry gives material the key's first
    /// version does not have.
    fn check_existing(
        &self,
        existing: &KeyRecord,
        material: Option<&SecretBytes>,
    ) -> Result<(), String> {
        let Some(material) = material else {
            return Ok(());
        };
        let stored = existing
            .materials
            .iter()
            .find(|m| m.version == 1)
            .ok_or("the existing key has no material version 1 to compare with")?;
        let opened = self
            .root
            .open(&super::material_aad(&existing.id, 1), &stored.sealed)
            .map_err(|_| "the existing key's material does not open under this root key")?;
        if constant_time_eq(opened.expose(), material.expose()) {
            Ok(())
        } else {
            Err("the existing key has different material".into())
        }
    }

    fn seed_record(&self, entry: &SeedKey) -> Result<KeyRecord, KmsError> {
        let spec = entry.key_spec;
        if spec.kind() == KeyKind::Unsupported {
            return Err(unsupported_spec(spec));
        }
        if !spec.usages().contains(&entry.key_usage) {
            return Err(KmsError::Validation(format!(
                "key_usage {} is not compatible with key_spec {spec}",
                entry.key_usage
            )));
        }
        if !matches!(entry.state, KeyState::Enabled | KeyState::Disabled) {
            return Err(KmsError::Validation(
                "state must be Enabled or Disabled".into(),
            ));
        }
        let material = match &entry.material {
            Some(m) => {
                if let Some(len) = spec.hmac_material_len() {
                    if m.expose().len() != len {
                        return Err(KmsError::Validation(format!(
                            "material for {spec} must be {len} bytes"
                        )));
                    }
                }
                prepare_material(spec, m).map_err(|_| {
                    KmsError::Validation(format!("material is not a valid {spec} key"))
                })?;
                SecretBytes::new(m.expose().to_vec())
            }
            None => generate_material(spec)?,
        };
        let rotation = match entry.rotation_period_days {
            None => Rotation::default(),
            Some(days) => {
                if spec != KeySpec::SymmetricDefault {
                    return Err(KmsError::Validation(
                        "automatic rotation is only for SYMMETRIC_DEFAULT keys".into(),
                    ));
                }
                if !ROTATION_PERIOD_DAYS.contains(&days) {
                    return Err(KmsError::Validation(
                        "rotation_period_days must be between 90 and 2560".into(),
                    ));
                }
                Rotation {
                    period_days: Some(days),
                    next_rotation: Some(self.now().plus_days(days)),
                    ..Rotation::default()
                }
            }
        };
        let policy = match &entry.policy {
            Some(p) => {
                // The same grammar and principal checks as CreateKey's Policy (no lockout
                // check: a seed file is the operator's, not a caller's).
                self.parse_key_policy(&entry.scope, p)?;
                p.clone()
            }
            None => default_policy(&entry.scope),
        };
        Ok(KeyRecord {
            id: entry.id,
            scope: entry.scope.clone(),
            version: 1,
            meta: KeyMeta {
                description: entry.description.clone(),
                key_spec: spec,
                key_usage: entry.key_usage,
                origin: Origin::AwsKms,
                state: entry.state,
                created_at: self.now(),
                deletion_date: None,
                pending_window_days: None,
                policy,
                tags: merge_tags(&BTreeMap::new(), &entry.tags)?,
                current_material: Some(1),
                multi_region: false,
                multi_region_set: None,
                imports: vec![],
                last_material_version: 1,
                rotation,
                deletion_protection: None,
                usage: Default::default(),
                grants: vec![],
            },
            materials: vec![self.seal_material(&entry.id, 1, &material)?],
        })
    }

    /// The keys of a scope as seed entries, with their aliases. Only keys a seed can recreate
    /// are described: `AWS_KMS`-origin keys that are Enabled or Disabled. With `with_material`,
    /// a key's material is included when it has exactly one version (a rotated key's older
    /// ciphertexts name versions a seed cannot recreate).
    pub fn export_seed(&self, scope: &Scope, with_material: bool) -> Result<SeedExport, KmsError> {
        let mut export = SeedExport {
            keys: Vec::new(),
            skipped: Vec::new(),
            without_material: Vec::new(),
        };
        let mut after = None;
        loop {
            let ids = self.store.list_keys(scope, after.as_ref(), 1000)?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            after = Some(last);
            for id in ids {
                let Some(record) = self.store.get_key(scope, &id)? else {
                    continue;
                };
                if record.meta.origin != Origin::AwsKms {
                    export.skipped.push((id, "not AWS_KMS origin"));
                    continue;
                }
                if !matches!(record.meta.state, KeyState::Enabled | KeyState::Disabled) {
                    export.skipped.push((id, "neither Enabled nor Disabled"));
                    continue;
                }
                let material = match record.materials.as_slice() {
                    _ if !with_material => None,
                    [only] if only.version == 1 => {
                        Some(self.root.open(&super::material_aad(&id, 1), &only.sealed)?)
                    }
                    _ => {
                        export.without_material.push((
                            id,
                            "rotated: its older ciphertexts name material versions a seed cannot recreate",
                        ));
                        None
                    }
                };
                let mut aliases = Vec::new();
                let mut alias_after = None;
                loop {
                    let page =
                        self.store
                            .list_aliases(scope, Some(&id), alias_after.as_ref(), 1000)?;
                    let Some(last) = page.last() else { break };
                    alias_after = Some(last.name.clone());
                    aliases.extend(page.into_iter().map(|a| a.name));
                }
                let meta = record.meta;
                export.keys.push(SeedKey {
                    id,
                    scope: scope.clone(),
                    key_spec: meta.key_spec,
                    key_usage: meta.key_usage,
                    description: meta.description,
                    material,
                    state: meta.state,
                    aliases,
                    tags: meta.tags.into_iter().collect(),
                    policy: Some(meta.policy),
                    rotation_period_days: meta.rotation.period_days,
                });
            }
        }
        Ok(export)
    }
}
