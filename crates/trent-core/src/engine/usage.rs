//! When each key was last used for a cryptographic operation (AWS's GetKeyLastUsage), tracked
//! without a write per request.
//!
//! A use is one relaxed atomic in the key's [`UsageCell`], which the cached key holds: no lock
//! and no store access on the hot path, and no write at all while the clock has not moved on
//! by a millisecond. [`Kms::flush_usage`] (run by the sweeper, and at shutdown) writes the uses
//! not yet stored in one batch, as an ordinary compare-and-set of each key's record. So the
//! stored answer lags by at most one flush interval (the sweep interval, 5 s by default); a node
//! answers from its own memory at once, and other nodes see the use once it is flushed and
//! their cached copy of the key is refreshed. A crash loses at most the uses of the last
//! interval.
//!
//! Must not: take a lock or touch the store when a use is recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::cache::CACHE_CAPACITY;
use super::{Caller, Kms, LoadedKey};
use crate::error::KmsError;
use crate::ids::{KeyId, KeyRef, Scope};
use crate::model::*;
use crate::state::KeyOp;
use crate::store::{StoreError, Write};

/// The last use of one key as one word: milliseconds since the epoch above the operation's
/// index plus one (0: never used), so that the latest use is simply the largest value.
#[derive(Debug, Default)]
pub struct UsageCell {
    last: AtomicU64,
    /// The packed use the store holds (or held when it was loaded).
    stored: AtomicU64,
}

fn pack(use_: LastUse) -> u64 {
    let index = TrackedOperation::ALL
        .iter()
        .position(|o| *o == use_.operation)
        .unwrap_or(0) as u64;
    (use_.at.0.max(0) as u64) << 8 | (index + 1)
}

fn unpack(packed: u64) -> Option<LastUse> {
    let index = (packed & 0xff).checked_sub(1)? as usize;
    Some(LastUse {
        operation: *TrackedOperation::ALL.get(index)?,
        at: Timestamp((packed >> 8) as i64),
    })
}

impl UsageCell {
    fn new(stored: Option<LastUse>) -> Self {
        let packed = stored.map(pack).unwrap_or(0);
        Self {
            last: AtomicU64::new(packed),
            stored: AtomicU64::new(packed),
        }
    }

    /// Records a use. Uses within the same millisecond as the last one write nothing.
    pub fn record(&self, operation: TrackedOperation, at: Timestamp) {
        let packed = pack(LastUse { operation, at });
        if packed >> 8 > self.last.load(Ordering::Relaxed) >> 8 {
            self.last.fetch_max(packed, Ordering::Relaxed);
        }
    }

    pub fn last(&self) -> Option<LastUse> {
        unpack(self.last.load(Ordering::Relaxed))
    }

    /// The use not yet in the store, if any.
    fn unflushed(&self) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        (last > self.stored.load(Ordering::Relaxed)).then_some(last)
    }
}

/// Every key's cell, by id, kept apart from the key cache so that a use survives the cached key
/// being replaced (any write to the key does that). Read only when a key is loaded and when
/// uses are flushed.
/// Keyed by id and scope: each copy of a multi-Region key has its own use.
pub type Registry = parking_lot::RwLock<HashMap<(KeyId, Scope), Arc<UsageCell>>>;

/// What GetKeyLastUsage reports.
#[derive(Debug)]
pub struct KeyLastUsage {
    pub key: Arc<LoadedKey>,
    pub last: Option<LastUse>,
    /// Since when uses are recorded (never before the key's creation).
    pub tracking_since: Timestamp,
}

impl Kms {
    /// The cell of the key `record` describes, made from what the store holds if this node has
    /// none yet.
    pub(super) fn usage_cell(&self, record: &KeyRecord) -> Arc<UsageCell> {
        let entry = (record.id, record.scope.clone());
        if let Some(cell) = self.usage.read().get(&entry) {
            return cell.clone();
        }
        let mut registry = self.usage.write();
        registry
            .entry(entry)
            .or_insert_with(|| Arc::new(UsageCell::new(record.meta.usage.last)))
            .clone()
    }

    /// The key's last use that this node or the store knows of, and since when uses are
    /// tracked (never before the key's creation).
    pub(super) fn last_use(&self, record: &KeyRecord) -> (Option<LastUse>, Timestamp) {
        let meta = &record.meta;
        let last = later(meta.usage.last, self.usage_cell(record).last());
        let since = meta
            .usage
            .since
            .unwrap_or(self.started)
            .max(meta.created_at);
        (last, since)
    }

    /// Notes a successful use of `key` by `op` (only cryptographic operations count).
    pub(super) fn note_use(&self, key: &LoadedKey, op: KeyOp) {
        if let Some(operation) = tracked(op) {
            key.usage.record(operation, self.now());
        }
    }

    pub fn get_key_last_usage(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<KeyLastUsage, KmsError> {
        let loaded = self.usable(caller, key, KeyOp::GetKeyLastUsage)?;
        let (last, tracking_since) = self.last_use(&loaded.record);
        Ok(KeyLastUsage {
            last,
            tracking_since,
            key: loaded,
        })
    }

    /// Writes every use not yet stored, in one batch (key by key if the batch loses a race);
    /// a key that loses its race is written at the next flush. Returns how many keys were
    /// written.
    pub fn flush_usage(&self) -> Result<usize, KmsError> {
        let pending: Vec<(KeyId, Scope, Arc<UsageCell>, u64)> = self
            .usage
            .read()
            .iter()
            .filter_map(|((id, scope), cell)| {
                cell.unflushed()
                    .map(|packed| (*id, scope.clone(), cell.clone(), packed))
            })
            .collect();
        let mut writes = Vec::with_capacity(pending.len());
        for (id, scope, cell, packed) in &pending {
            let Some(record) = self.store.get_key(scope, id)? else {
                self.usage.write().remove(&(*id, scope.clone()));
                continue;
            };
            let mut next = record.clone();
            let usage = &mut next.meta.usage;
            usage.since.get_or_insert(self.started);
            if let Some(last) = unpack(*packed) {
                // Another node may have stored a later use.
                usage.last = later(usage.last, Some(last));
            }
            if next == record {
                cell.stored.fetch_max(*packed, Ordering::Relaxed);
                continue;
            }
            next.version = record.version + 1;
            writes.push((record.version, next, cell.clone(), *packed));
        }
        let batch = writes
            .iter()
            .map(|(expected, next, _, _)| Write::UpdateKey {
                record: next.clone(),
                expected_version: *expected,
            })
            .collect::<Vec<_>>();
        if batch.is_empty() {
            return Ok(0);
        }
        let mut written = 0;
        let all = match self.store.commit(batch) {
            Ok(()) => true,
            Err(StoreError::Conflict) => false,
            Err(e) => return Err(e.into()),
        };
        for (expected, next, cell, packed) in writes {
            if !all {
                match self.store.commit(vec![Write::UpdateKey {
                    record: next.clone(),
                    expected_version: expected,
                }]) {
                    Ok(()) => {}
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            cell.stored.fetch_max(packed, Ordering::Relaxed);
            self.refresh_cached(expected, next);
            written += 1;
        }
        self.trim_usage();
        Ok(written)
    }

    /// After a flush wrote `next` over version `expected`: the cached key takes the new record
    /// and keeps its opened material (no unsealing), or is dropped if it was not that version.
    fn refresh_cached(&self, expected: u64, next: KeyRecord) {
        let id = next.id;
        self.caches.update_key(&id, |old| {
            (old.record.version == expected && old.record.scope == next.scope).then(|| {
                LoadedKey::new(
                    next,
                    old.materials.clone(),
                    old.usage.clone(),
                    old.policy.clone(),
                )
            })
        });
    }

    /// Keeps the registry bounded like the cache: cells that hold nothing unflushed and whose
    /// key is not cached are rebuilt from the store when needed.
    fn trim_usage(&self) {
        if self.usage.read().len() <= CACHE_CAPACITY {
            return;
        }
        self.usage
            .write()
            .retain(|(id, _), cell| cell.unflushed().is_some() || self.caches.has_key(id));
    }
}

/// The tracked operation `op` is, if it is one.
fn tracked(op: KeyOp) -> Option<TrackedOperation> {
    use TrackedOperation as T;
    Some(match op {
        KeyOp::Decrypt => T::Decrypt,
        KeyOp::DeriveSharedSecret => T::DeriveSharedSecret,
        KeyOp::Encrypt => T::Encrypt,
        KeyOp::GenerateDataKey => T::GenerateDataKey,
        KeyOp::GenerateDataKeyPair => T::GenerateDataKeyPair,
        KeyOp::GenerateDataKeyPairWithoutPlaintext => T::GenerateDataKeyPairWithoutPlaintext,
        KeyOp::GenerateDataKeyWithoutPlaintext => T::GenerateDataKeyWithoutPlaintext,
        KeyOp::GenerateMac => T::GenerateMac,
        KeyOp::ReEncryptFrom | KeyOp::ReEncryptTo => T::ReEncrypt,
        KeyOp::Sign => T::Sign,
        KeyOp::Verify => T::Verify,
        KeyOp::VerifyMac => T::VerifyMac,
        KeyOp::Encapsulate => T::Encapsulate,
        KeyOp::Decapsulate => T::Decapsulate,
        _ => return None,
    })
}

/// The later of two uses.
fn later(a: Option<LastUse>, b: Option<LastUse>) -> Option<LastUse> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.at > a.at { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_keeps_the_latest_use() {
        let cell = UsageCell::new(None);
        assert_eq!(cell.last(), None);
        cell.record(TrackedOperation::Encrypt, Timestamp(2_000));
        cell.record(TrackedOperation::Decrypt, Timestamp(1_000));
        assert_eq!(
            cell.last(),
            Some(LastUse {
                operation: TrackedOperation::Encrypt,
                at: Timestamp(2_000)
            })
        );
        assert!(cell.unflushed().is_some());
        cell.record(TrackedOperation::Sign, Timestamp(3_000));
        assert_eq!(cell.last().unwrap().operation, TrackedOperation::Sign);
    }

    #[test]
    fn every_operation_packs_and_unpacks() {
        for op in TrackedOperation::ALL {
            let use_ = LastUse {
                operation: *op,
                at: Timestamp(1_733_000_000_123),
            };
            assert_eq!(unpack(pack(use_)), Some(use_));
        }
        assert_eq!(unpack(0), None);
    }

    #[test]
    fn a_stored_use_is_not_unflushed() {
        let stored = LastUse {
            operation: TrackedOperation::Verify,
            at: Timestamp(5),
        };
        let cell = UsageCell::new(Some(stored));
        assert_eq!(cell.last(), Some(stored));
        assert_eq!(cell.unflushed(), None);
    }
}
