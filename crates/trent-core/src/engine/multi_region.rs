//! Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, and keeping the shared properties of a
//! key's copies the same.
//!
//! Every copy is a key record of its own, scoped by (account, Region, id), with its own state,
//! policy, aliases, tags, description and grants. The shared properties (generated key material
//! and its versions, rotation settings and history, and the set of copies) are held by every
//! copy and change only in one commit batch that writes every copy with compare-and-set: a
//! writer that raced another on any copy retries the whole batch. So no reader ever sees two
//! copies with different material.
//!
//! Must not: let a replica change a shared property (only its primary may), or show AWS's
//! transient `Creating`/`Updating` states (every change here is complete when it returns).

use std::collections::BTreeMap;

use super::{writers, Caller, Facts, Kms, MAX_WRITE_ATTEMPTS};
use crate::error::{KmsError, MultiRegionRule};
use crate::ids::{KeyRef, Region, Scope};
use crate::model::*;
use crate::state::KeyOp;
use crate::store::{StoreError, Write};

/// What ReplicateKey takes, already decoded and checked for shape by the dialect.
#[derive(Debug, Clone)]
pub struct NewReplica {
    pub region: String,
    pub policy: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
    pub bypass_policy_lockout_safety_check: bool,
}

/// Whether two copies differ in a property every copy shares.
pub(super) fn shared_differs(a: &KeyRecord, b: &KeyRecord) -> bool {
    let (x, y) = (&a.meta, &b.meta);
    x.rotation != y.rotation
        || x.multi_region_set != y.multi_region_set
        || (x.origin != Origin::External
            && (a.materials != b.materials
                || x.current_material != y.current_material
                || x.last_material_version != y.last_material_version))
}

/// Gives `to` the shared properties of `from`. Imported material is not shared: each copy of an
/// EXTERNAL key has the same material imported into it on its own (AWS's rule), and an import
/// into a copy must match the material its primary was made with.
fn copy_shared(from: &KeyRecord, to: &mut KeyRecord) {
    to.meta.rotation = from.meta.rotation.clone();
    to.meta.multi_region_set = from.meta.multi_region_set.clone();
    if from.meta.origin != Origin::External {
        to.materials = from.materials.clone();
        to.meta.current_material = from.meta.current_material;
        to.meta.last_material_version = from.meta.last_material_version;
    }
}

/// ReplicateKey's and UpdatePrimaryRegion's precondition, checked before the state table: the
/// key must be a multi-Region primary key.
fn require_primary(r: &KeyRecord) -> Result<(), KmsError> {
    if r.multi_region_type() == Some(MultiRegionKeyType::Primary) {
        Ok(())
    } else {
        Err(KmsError::MultiRegion {
            arn: r.arn(),
            rule: MultiRegionRule::NotPrimary,
        })
    }
}

fn scope_in(scope: &Scope, region: &str) -> Scope {
    Scope {
        account: scope.account.clone(),
        region: Region(region.to_owned()),
    }
}

impl Kms {
    /// The writes that bring every other copy of `next`'s key to `next`'s shared properties,
    /// when a change from `current` touched them. A replica may not change them itself.
    pub(super) fn copy_writes(
        &self,
        current: &KeyRecord,
        next: &KeyRecord,
    ) -> Result<Vec<Write>, KmsError> {
        let Some(set) = &next.meta.multi_region_set else {
            return Ok(vec![]);
        };
        if !shared_differs(current, next) {
            return Ok(vec![]);
        }
        if current.multi_region_type() == Some(MultiRegionKeyType::Replica) {
            return Err(KmsError::MultiRegion {
                arn: current.arn(),
                rule: MultiRegionRule::Replica,
            });
        }
        self.sibling_writes(next, set.regions())
    }

    /// Updates of the copies of `source`'s key in `regions` (other than `source`'s own) to its
    /// shared properties.
    fn sibling_writes<'r>(
        &self,
        source: &KeyRecord,
        regions: impl Iterator<Item = &'r str>,
    ) -> Result<Vec<Write>, KmsError> {
        let mut writes = vec![];
        for region in regions.filter(|r| *r != source.scope.region.0) {
            let scope = scope_in(&source.scope, region);
            let Some(copy) = self.store.get_key(&scope, &source.id)? else {
                continue;
            };
            let mut next = copy.clone();
            copy_shared(source, &mut next);
            if next != copy {
                next.version = copy.version + 1;
                writes.push(Write::UpdateKey {
                    record: next,
                    expected_version: copy.version,
                });
            }
        }
        Ok(writes)
    }

    /// The writes that follow the destruction of `gone`, a copy of a multi-Region key: the
    /// other copies forget it, and a primary that waited for its last replica starts its
    /// waiting period (AWS: PendingReplicaDeletion becomes PendingDeletion).
    pub(super) fn after_copy_deleted(
        &self,
        gone: &KeyRecord,
        now: Timestamp,
    ) -> Result<Vec<Write>, KmsError> {
        let Some(set) = &gone.meta.multi_region_set else {
            return Ok(vec![]);
        };
        let mut remaining = set.clone();
        remaining.replicas.retain(|r| *r != gone.scope.region.0);
        let mut writes = vec![];
        for region in set.regions().filter(|r| *r != gone.scope.region.0) {
            let scope = scope_in(&gone.scope, region);
            let Some(copy) = self.store.get_key(&scope, &gone.id)? else {
                continue;
            };
            let mut next = copy.clone();
            next.meta.multi_region_set = Some(remaining.clone());
            if next.meta.state == KeyState::PendingReplicaDeletion && remaining.replicas.is_empty()
            {
                next.meta.state = KeyState::PendingDeletion;
                next.meta.deletion_date =
                    Some(now.plus_days(next.meta.pending_window_days.unwrap_or(30)));
            }
            next.version = copy.version + 1;
            writes.push(Write::UpdateKey {
                record: next,
                expected_version: copy.version,
            });
        }
        Ok(writes)
    }

    /// ReplicateKey: a copy of the primary key `key` in `new.region`, with its own policy, tags
    /// and description. Returns the replica's record.
    pub fn replicate_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
        new: NewReplica,
    ) -> Result<KeyRecord, KmsError> {
        let facts = Facts {
            replica_region: Some(&new.region),
            precondition: Some(&require_primary),
            ..Facts::default()
        };
        let admitted = self.admit_key(caller, key, KeyOp::ReplicateKey, &facts)?;
        let id = admitted.record.id;
        let scope = admitted.record.scope.clone();
        let replica_scope = scope_in(&scope, &new.region);
        // AWS: the caller needs kms:CreateKey in the replica's Region (and kms:TagResource
        // there to tag it), decided by its identity policy as CreateKey is.
        let there = Caller {
            scope: replica_scope.clone(),
            ..caller.clone()
        };
        let create_facts = Facts {
            key_spec: Some(admitted.record.meta.key_spec),
            key_usage: Some(admitted.record.meta.key_usage),
            origin: Some(admitted.record.meta.origin),
            multi_region: Some(true),
            tags: (!new.tags.is_empty()).then_some(new.tags.as_slice()),
            bypass_lockout: Some(new.bypass_policy_lockout_safety_check),
            ..Facts::default()
        };
        self.admit(&there, KeyOp::CreateKey, None, &create_facts)?;
        if !new.tags.is_empty() {
            self.admit(&there, KeyOp::TagResource, None, &create_facts)?;
        }
        let tags = super::merge_tags(&BTreeMap::new(), &new.tags)?;
        let parsed = new
            .policy
            .as_deref()
            .map(|p| self.checked_policy(&there, &replica_scope, p))
            .transpose()?
            .flatten();
        let _queued = self.key_writers.lock(&id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                writers::backoff(attempt);
            }
            let now = self.now();
            let primary = self.stored_key(&scope, &id, now)?;
            self.decide_stored(caller, KeyOp::ReplicateKey, &primary, &facts)?;
            let Some(set) = primary.meta.multi_region_set.clone() else {
                return Err(KmsError::internal("multi-Region primary without its set"));
            };
            let exists = set.regions().any(|r| r == new.region)
                || self.store.get_key(&replica_scope, &id)?.is_some();
            if exists {
                return Err(KmsError::MultiRegion {
                    arn: primary.arn(),
                    rule: MultiRegionRule::CopyExists {
                        replica_arn: replica_scope.key_arn(&id),
                    },
                });
            }
            let mut next_set = set.clone();
            next_set.replicas.push(new.region.clone());
            let mut next_primary = primary.clone();
            next_primary.meta.multi_region_set = Some(next_set.clone());
            next_primary.version = primary.version + 1;
            let replica = self.replica_of(&next_primary, &replica_scope, &new, &tags, now);
            if let Some(parsed) = &parsed {
                if !new.bypass_policy_lockout_safety_check {
                    self.lockout_check(&there, &replica, parsed)?;
                }
            }
            let mut writes = vec![
                Write::UpdateKey {
                    record: next_primary.clone(),
                    expected_version: primary.version,
                },
                Write::InsertKey(replica.clone()),
            ];
            writes.extend(
                self.sibling_writes(&next_primary, set.replicas.iter().map(String::as_str))?,
            );
            match self.commit(caller, writes) {
                Ok(()) => {
                    self.invalidate_key(&id);
                    return Ok(replica);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Contention)
    }

    /// The new replica record of `primary` in `scope`.
    fn replica_of(
        &self,
        primary: &KeyRecord,
        scope: &Scope,
        new: &NewReplica,
        tags: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> KeyRecord {
        let p = &primary.meta;
        let external = p.origin == Origin::External;
        // An EXTERNAL replica knows which material it must be given (the primary's), but holds
        // none until it is imported into it.
        let imports = p
            .imports
            .iter()
            .filter(|i| !i.pending_rotation)
            .map(|i| ImportedKeyMaterial {
                expiration_model: None,
                valid_to: None,
                ..i.clone()
            })
            .collect();
        KeyRecord {
            id: primary.id,
            scope: scope.clone(),
            version: 1,
            meta: KeyMeta {
                description: new.description.clone().unwrap_or_default(),
                key_spec: p.key_spec,
                key_usage: p.key_usage,
                origin: p.origin,
                state: if external {
                    KeyState::PendingImport
                } else {
                    KeyState::Enabled
                },
                created_at: now,
                deletion_date: None,
                pending_window_days: None,
                policy: new
                    .policy
                    .clone()
                    .unwrap_or_else(|| super::default_policy(scope)),
                tags: tags.clone(),
                current_material: if external { None } else { p.current_material },
                multi_region: true,
                multi_region_set: p.multi_region_set.clone(),
                imports: if external { imports } else { vec![] },
                last_material_version: p.last_material_version,
                rotation: p.rotation.clone(),
                deletion_protection: None,
                usage: UsageTracking {
                    since: Some(now),
                    last: None,
                },
                grants: vec![],
            },
            materials: if external {
                vec![]
            } else {
                primary.materials.clone()
            },
        }
    }

    /// UpdatePrimaryRegion: the replica in `region` becomes the primary key, and the primary key
    /// `key` names becomes a replica. Both must be Enabled, and the caller needs
    /// kms:UpdatePrimaryRegion on both.
    pub fn update_primary_region(
        &self,
        caller: &Caller,
        key: &KeyRef,
        region: &str,
    ) -> Result<(), KmsError> {
        let facts = Facts {
            primary_region: Some(region),
            precondition: Some(&require_primary),
            ..Facts::default()
        };
        let admitted = self.admit_key(caller, key, KeyOp::UpdatePrimaryRegion, &facts)?;
        let id = admitted.record.id;
        let scope = admitted.record.scope.clone();
        let new_scope = scope_in(&scope, region);
        let replica_facts = Facts {
            primary_region: Some(region),
            ..Facts::default()
        };
        let _queued = self.key_writers.lock(&id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                writers::backoff(attempt);
            }
            let now = self.now();
            let primary = self.stored_key(&scope, &id, now)?;
            self.decide_stored(caller, KeyOp::UpdatePrimaryRegion, &primary, &facts)?;
            let Some(set) = primary.meta.multi_region_set.clone() else {
                return Err(KmsError::internal("multi-Region primary without its set"));
            };
            let no_replica = || KmsError::MultiRegion {
                arn: primary.arn(),
                rule: MultiRegionRule::NoReplica {
                    region: region.to_owned(),
                },
            };
            if !set.replicas.iter().any(|r| r == region) {
                return Err(no_replica());
            }
            let replica = self
                .store
                .get_key(&new_scope, &id)?
                .filter(|r| !self.is_deleted(r, now))
                .ok_or_else(no_replica)?;
            self.decide_stored(caller, KeyOp::UpdatePrimaryRegion, &replica, &replica_facts)?;
            let next_set = MultiRegionSet {
                primary: region.to_owned(),
                replicas: set
                    .replicas
                    .iter()
                    .map(|r| {
                        if r == region {
                            set.primary.clone()
                        } else {
                            r.clone()
                        }
                    })
                    .collect(),
            };
            let mut next_primary = primary.clone();
            next_primary.meta.multi_region_set = Some(next_set);
            next_primary.version = primary.version + 1;
            let mut writes = vec![Write::UpdateKey {
                record: next_primary.clone(),
                expected_version: primary.version,
            }];
            writes.extend(
                self.sibling_writes(&next_primary, set.replicas.iter().map(String::as_str))?,
            );
            match self.commit(caller, writes) {
                Ok(()) => {
                    self.invalidate_key(&id);
                    return Ok(());
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KmsError::Contention)
    }
}
