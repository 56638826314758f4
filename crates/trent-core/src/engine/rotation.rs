//! Key rotation: automatic (a period, driven by the clock and [`Kms::sweep`]) and on demand.
//! Rotating adds a material version and makes it current; every older version stays, so every
//! older ciphertext still decrypts.
//!
//! Only symmetric encryption keys rotate; AWS refuses rotation of asymmetric and HMAC keys.
//! Keys with generated material rotate automatically and on demand, each rotation generating
//! new material. Keys with imported material rotate only on demand, to material imported
//! beforehand (`ImportType` NEW_KEY_MATERIAL, waiting in PENDING_ROTATION): Trent never makes
//! material up for them.

use std::sync::Arc;

use super::{generate_material, Caller, Facts, Kms, LoadedKey, Page};
use crate::error::KmsError;
use crate::ids::KeyRef;
use crate::model::*;
use crate::state::{Dialect, KeyOp};

/// AWS's quota of on-demand rotations per key (its RotateKeyOnDemand reference: 25).
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;
/// Alibaba's quota: at most this many versions per key (its CreateKeyVersion reference).
pub const MAX_ALIYUN_KEY_VERSIONS: usize = 50;
/// AWS's default automatic rotation period.
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;

/// One material of a key, as ListKeyRotations lists it.
#[derive(Debug, Clone)]
pub struct KeyMaterialEntry {
    pub version: u32,
    pub key_material_id: String,
    pub state: KeyMaterialState,
    /// When and how the material became current; `None` for the first material and material
    /// pending rotation.
    pub rotation: Option<RotationEntry>,
    /// For imported material: what was imported, and whether it is in the key now.
    pub import: Option<(ImportedKeyMaterial, ImportState)>,
}

/// What GetKeyRotationStatus reports.
#[derive(Debug)]
pub struct RotationStatus {
    pub key: Arc<LoadedKey>,
    pub period_days: Option<u32>,
    pub next_rotation: Option<Timestamp>,
}

/// Which rotations an operation is about, and so which keys it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotations {
    /// Automatic rotation (and Alibaba's versions): symmetric keys with generated material.
    Automatic,
    /// AWS's on-demand rotation and the list of materials: every symmetric key.
    OnDemand,
}

/// Refuses keys that cannot rotate: AWS answers asymmetric and HMAC keys with an empty
/// UnsupportedOperationException, and imported material (for automatic rotation) with
/// footnote [6] of its key-state reference.
fn require_rotatable(record: &KeyRecord, rotations: Rotations) -> Result<(), KmsError> {
    if record.meta.key_spec != KeySpec::SymmetricDefault {
        return Err(KmsError::UnsupportedOperation(String::new()));
    }
    let origin = record.meta.origin;
    let allowed = match rotations {
        Rotations::Automatic => origin == Origin::AwsKms,
        Rotations::OnDemand => matches!(origin, Origin::AwsKms | Origin::External),
    };
    if !allowed {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} origin is {origin} which is not valid for this operation.",
            record.arn(),
        )));
    }
    Ok(())
}

/// Makes the imported material pending rotation the key's next material.
fn promote_pending(record: &mut KeyRecord) -> Result<u32, KmsError> {
    let arn = record.arn();
    let pending = record
        .meta
        .imports
        .iter_mut()
        .find(|i| i.pending_rotation)
        .ok_or(KmsError::NoMaterialPendingRotation { arn })?;
    pending.pending_rotation = false;
    Ok(pending.version)
}

impl Kms {
    /// Loads a key for a rotation operation: unrotatable keys are refused whatever their state,
    /// then the state table applies.
    fn rotatable(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        rotations: Rotations,
        facts: &Facts<'_>,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let check = move |r: &KeyRecord| require_rotatable(r, rotations);
        self.admit_key(
            caller,
            key,
            op,
            &Facts {
                precondition: Some(&check),
                ..*facts
            },
        )
    }

    /// Makes a new material version current: fresh material, or for imported keys the
    /// material imported for this rotation.
    fn rotate(
        &self,
        record: &mut KeyRecord,
        date: Timestamp,
        kind: RotationType,
    ) -> Result<(), KmsError> {
        let version = match record.meta.origin {
            Origin::External => promote_pending(record)?,
            _ => {
                let version = record.next_material_version();
                let material = generate_material(record.meta.key_spec)?;
                let sealed = self.seal_material(&record.id, version, &material)?;
                record.materials.push(sealed);
                version
            }
        };
        record.meta.current_material = Some(version);
        record.meta.rotation.history.push(RotationEntry {
            material_version: version,
            date,
            kind,
        });
        Ok(())
    }

    /// Automatic rotation due on `record` (called by the sweeper). AWS rotates only enabled
    /// keys; a key re-enabled after its date rotates at the next sweep.
    pub(super) fn rotate_if_due(
        &self,
        record: &mut KeyRecord,
        now: Timestamp,
    ) -> Result<(), KmsError> {
        let rotation = &record.meta.rotation;
        let (Some(period), Some(next)) = (rotation.period_days, rotation.next_rotation) else {
            return Ok(());
        };
        // A multi-Region replica is rotated with its primary (see `multi_region`).
        let replica = record.multi_region_type() == Some(MultiRegionKeyType::Replica);
        if record.meta.state != KeyState::Enabled || next > now || replica {
            return Ok(());
        }
        self.rotate(record, now, RotationType::Automatic)?;
        record.meta.rotation.next_rotation = Some(now.plus_days(period));
        Ok(())
    }

    /// Turns on automatic rotation every `period_days` (the dialect has checked AWS's 90–2560
    /// range); the first rotation is one period from now.
    pub fn enable_key_rotation(
        &self,
        caller: &Caller,
        key: &KeyRef,
        period_days: u32,
    ) -> Result<(), KmsError> {
        let facts = Facts {
            rotation_period_days: Some(period_days),
            ..Facts::default()
        };
        self.rotatable(
            caller,
            key,
            KeyOp::EnableKeyRotation,
            Rotations::Automatic,
            &facts,
        )?;
        self.modify(caller, key, KeyOp::EnableKeyRotation, &facts, |r, now| {
            let rotation = &mut r.meta.rotation;
            if rotation.period_days != Some(period_days) {
                rotation.period_days = Some(period_days);
                rotation.next_rotation = Some(now.plus_days(period_days));
            }
            Ok(())
        })?;
        Ok(())
    }

    pub fn disable_key_rotation(&self, caller: &Caller, key: &KeyRef) -> Result<(), KmsError> {
        self.rotatable(
            caller,
            key,
            KeyOp::DisableKeyRotation,
            Rotations::Automatic,
            &Facts::default(),
        )?;
        self.modify(
            caller,
            key,
            KeyOp::DisableKeyRotation,
            &Facts::default(),
            |r, _| {
                r.meta.rotation.period_days = None;
                r.meta.rotation.next_rotation = None;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// The automatic rotation schedule. A key pending deletion is not rotated, so it reports
    /// none (AWS: rotation status false); its schedule is kept, and cancelling the deletion
    /// brings it back.
    pub fn get_key_rotation_status(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<RotationStatus, KmsError> {
        let loaded = self.rotatable(
            caller,
            key,
            KeyOp::GetKeyRotationStatus,
            Rotations::Automatic,
            &Facts::default(),
        )?;
        let rotation = &loaded.record.meta.rotation;
        let (period_days, next_rotation) = match loaded.record.meta.state {
            KeyState::PendingDeletion => (None, None),
            _ => (rotation.period_days, rotation.next_rotation),
        };
        Ok(RotationStatus {
            period_days,
            next_rotation,
            key: loaded.clone(),
        })
    }

    /// Rotates now (Alibaba: CreateKeyVersion), at most [`MAX_ON_DEMAND_ROTATIONS`] times per
    /// key for AWS, up to [`MAX_ALIYUN_KEY_VERSIONS`] versions for Alibaba; the automatic
    /// schedule is unchanged.
    pub fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<KeyRecord, KmsError> {
        // The state comes first here: AWS answers an EXTERNAL key without material with
        // "is pending import", not with the origin.
        let ((), record) = self.modify(caller, key, KeyOp::RotateKeyOnDemand, &Facts::default(), |r, now| {
            // Alibaba has no way to import material for a rotation: its CreateKeyVersion
            // keeps refusing keys with imported material by their origin.
            let rotations = match caller.dialect {
                Dialect::Aws => Rotations::OnDemand,
                Dialect::Aliyun => Rotations::Automatic,
            };
            require_rotatable(r, rotations)?;
            // AWS rotates a multi-Region key with imported material through a material pending
            // import into every copy (PENDING_MULTI_REGION_IMPORT_AND_ROTATION); Trent keeps
            // each copy's imported material its own and does not offer that rotation.
            if r.meta.multi_region && r.meta.origin == Origin::External {
                return Err(KmsError::UnsupportedOperation(format!(
                    "{} is a multi-Region key with imported key material; on-demand rotation of such keys is not supported by this server.",
                    r.arn()
                )));
            }
            // Each vendor has its own quota: AWS counts on-demand rotations, Alibaba versions.
            let on_demand = r
                .meta
                .rotation
                .history
                .iter()
                .filter(|e| e.kind == RotationType::OnDemand)
                .count();
            let exhausted = match caller.dialect {
                Dialect::Aws => on_demand >= MAX_ON_DEMAND_ROTATIONS,
                Dialect::Aliyun => r.materials.len() >= MAX_ALIYUN_KEY_VERSIONS,
            };
            if exhausted {
                return Err(KmsError::LimitExceeded(format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    r.arn()
                )));
            }
            // Rotation is synchronous: it is complete when this returns, so no on-demand
            // rotation is ever in progress (AWS's OnDemandRotationStartDate never shows).
            self.rotate(r, now, RotationType::OnDemand)

        })?;
        Ok(record)
    }

    /// The key's materials, oldest first: those rotations made current, or with
    /// `include_all` also the first material and material pending rotation. The marker is the
    /// number of entries already returned.
    pub fn list_key_rotations(
        &self,
        caller: &Caller,
        key: &KeyRef,
        include_all: bool,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<(Arc<LoadedKey>, Page<KeyMaterialEntry>), KmsError> {
        let loaded = self.rotatable(
            caller,
            key,
            KeyOp::ListKeyRotations,
            Rotations::OnDemand,
            &Facts::default(),
        )?;
        let entries: Vec<KeyMaterialEntry> = material_entries(&loaded.record)
            .filter(|e| include_all || e.rotation.is_some())
            .collect();
        let start = match marker {
            None => 0,
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= entries.len())
                .ok_or(KmsError::InvalidMarker)?,
        };
        let end = (start + limit).min(entries.len());
        let next_marker = (end < entries.len()).then(|| end.to_string());
        let items = entries[start..end].to_vec();
        Ok((loaded.clone(), Page { items, next_marker }))
    }
}

/// Every material of a symmetric key, by version.
fn material_entries(record: &KeyRecord) -> impl Iterator<Item = KeyMaterialEntry> + '_ {
    let versions = record.material_versions(true);
    versions.into_iter().map(move |version| {
        let import = record
            .meta
            .imports
            .iter()
            .find(|i| i.version == version)
            .map(|i| {
                let state = if record.is_imported(version) {
                    ImportState::Imported
                } else {
                    ImportState::PendingImport
                };
                (i.clone(), state)
            });
        KeyMaterialEntry {
            version,
            key_material_id: record.key_material_id(version),
            state: record.material_state(version),
            rotation: record
                .meta
                .rotation
                .history
                .iter()
                .find(|e| e.material_version == version)
                .cloned(),
            import,
        }
    })
}
