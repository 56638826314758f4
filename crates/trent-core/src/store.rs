//! The storage boundary. Backends (embedded SQLite, PostgreSQL) implement [`Store`]; the domain
//! never sees SQL.
//!
//! Writes are data with preconditions: a [`Write`] names the row version (or alias target) it
//! was computed from, and [`Store::commit`] applies a batch atomically or not at all. Zero rows
//! matched is a [`StoreError::Conflict`] that the engine retries by re-reading. This is what
//! keeps several nodes on one database correct.

use crate::audit::{AuditEvent, AuditQuery, ChainHead, StoredAuditEvent};
use crate::ids::{AliasName, KeyId, Scope};
use crate::model::{AliasRecord, KeyRecord, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A precondition did not hold: someone else wrote first.
    #[error("write conflict")]
    Conflict,
    /// An alias with this name already exists in the scope (a database constraint).
    #[error("alias already exists")]
    AliasExists,
    /// The backend has no space for the write (disk full). Nothing of it was stored.
    #[error("storage full")]
    Full,
    /// The backend failed (I/O, corruption, connection). The text is for the log.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// One write in a batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert a new key (fails with Conflict if the id exists). `record.version` must be 1.
    InsertKey(KeyRecord),
    /// Replace a key's metadata and add any material versions not yet stored, if the stored
    /// row is still at `expected_version`. `record.version` must be `expected_version + 1`.
    UpdateKey {
        record: KeyRecord,
        expected_version: u64,
    },
    /// Destroy a key, its material and every alias pointing at it, if still at
    /// `expected_version`.
    DeleteKey {
        scope: Scope,
        id: KeyId,
        expected_version: u64,
    },
    /// Create an alias; fails with AliasExists if the name is taken.
    InsertAlias(AliasRecord),
    /// Point an existing alias at a new key, if it still points at `expected_target`.
    RetargetAlias {
        alias: AliasRecord,
        expected_target: KeyId,
    },
    /// Delete an alias, if it still points at `expected_target`.
    DeleteAlias {
        scope: Scope,
        name: AliasName,
        expected_target: KeyId,
    },
    /// Append an audit record to its account's chain: the store assigns the next sequence
    /// number and the chain hash from the account's head, which it locks for the transaction
    /// (so several nodes append to one chain in one order).
    Audit(AuditEvent),
}

/// A change another node committed, as a backend's change feed reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key's row (state, policy, material, anything) changed or was deleted.
    Key(KeyId),
    /// Some alias changed.
    Aliases,
    /// Changes may have been missed: anything may be stale.
    Everything,
}

/// A backend's feed of changes committed by other nodes (see [`Change`]).
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// Every change committed before this instant has been delivered; `None` while the feed
    /// has never been connected. It stops advancing while the feed is down.
    fn delivered_through(&self) -> Option<std::time::Instant>;
}

/// How a commit's result reaches a caller that does not wait for it ([`Store::commit_then`]).
/// Called once; it must not block (it sends on a channel).
pub type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

pub trait Store: Send + Sync + std::fmt::Debug {
    fn get_key(&self, scope: &Scope, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;

    /// Key ids in the scope, in id order, strictly after `after`.
    fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError>;

    fn get_alias(&self, scope: &Scope, name: &AliasName)
        -> Result<Option<AliasRecord>, StoreError>;

    /// Aliases in the scope (optionally only those of one key), in name order, strictly after
    /// `after`.
    fn list_aliases(
        &self,
        scope: &Scope,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError>;

    /// Keys whose [`KeyRecord::next_due`] is at or before `now`, across all scopes, earliest
    /// first.
    fn keys_due(&self, now: Timestamp, limit: usize) -> Result<Vec<(Scope, KeyId)>, StoreError>;

    /// Applies all writes atomically and durably (the call returns after the data is on
    /// stable storage), or none of them.
    fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// [`Store::commit`] without waiting: `done` is called with the result once the writes are
    /// durable (or refused), possibly on another thread, so an async caller can await it without
    /// holding a thread. The default commits on the calling thread.
    fn commit_then(&self, writes: Vec<Write>, done: Reply) {
        done(self.commit(writes))
    }

    /// The root-key check value sealed when the store was initialised (None for a store that
    /// never had one).
    fn root_check(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Store `sealed` as the check value if none is stored yet; returns the value now stored
    /// (ours, or one written first by another process).
    fn init_root_check(&self, sealed: Vec<u8>) -> Result<Vec<u8>, StoreError>;

    /// Some key of any scope, preferring one with stored material; None for a store without
    /// keys. Read once at startup: whether the store already depends on a root key, and (for a
    /// store from before the check value) material to test the root key against.
    fn sample_key(&self) -> Result<Option<KeyRecord>, StoreError>;

    /// Whether the backend answers now (for `/health`): one round trip, bounded by the
    /// backend's own timeouts.
    fn ping(&self) -> Result<(), StoreError>;

    /// Claims a signed request's nonce (a digest of it and its credential) for every node that
    /// shares this store, until the Unix second `until`, before the request runs: `Ok(false)`
    /// if a request admitted by another node (or this one) already claimed it and its claim is
    /// unexpired at `now`. A store that no other node uses has nothing to share and answers
    /// `Ok(true)`: each node's own memory of nonces refuses replays to it.
    fn claim_nonce(&self, digest: &[u8; 16], until: i64, now: i64) -> Result<bool, StoreError>;

    /// Audit records matching `query`, newest first (by time, then sequence number).
    fn audit_lookup(&self, query: &AuditQuery) -> Result<Vec<StoredAuditEvent>, StoreError>;

    /// The position (time, seq) of the `query.limit`-th of the account's records, newest
    /// first, within the query's time range and after its `after` (its attribute and
    /// `down_to` are not used); None when there are fewer, or for a limit of 0. A walk of the
    /// index by time (on SQLite it reads no record).
    fn audit_nth(&self, query: &AuditQuery) -> Result<Option<(Timestamp, u64)>, StoreError>;

    /// Every account's chain head, in account order.
    fn audit_heads(&self) -> Result<Vec<(String, ChainHead)>, StoreError>;

    /// One account's records with sequence numbers after `after_seq`, in sequence order.
    fn audit_chain(
        &self,
        account: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredAuditEvent>, StoreError>;

    /// Removes, per account, the oldest records up to the last one older than `before` (a
    /// prefix of the chain, recorded in its head). Returns how many were removed.
    fn audit_prune(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// The behaviour every backend must show, as one suite each backend's tests call.
pub mod conformance {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::*;

    /// A version-1 key record with one material, for backends' own tests too.
    pub fn key(scope: &Scope, state: KeyState, deletion: Option<Timestamp>) -> KeyRecord {
        KeyRecord {
            id: KeyId::generate(),
            scope: scope.clone(),
            version: 1,
            meta: KeyMeta {
                description: "d".into(),
                key_spec: KeySpec::SymmetricDefault,
                key_usage: KeyUsage::EncryptDecrypt,
                origin: Origin::AwsKms,
                state,
                created_at: Timestamp(1_700_000_000_000),
                deletion_date: deletion,
                pending_window_days: deletion.map(|_| 7),
                policy: "{}".into(),
                tags: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
                current_material: Some(1),
                multi_region: false,
                multi_region_set: None,
                imports: vec![],
                last_material_version: 1,
                rotation: Rotation::default(),
                deletion_protection: None,
                usage: Default::default(),
                grants: vec![],
            },
            materials: vec![SealedMaterial {
                version: 1,
                sealed: vec![1, 2, 3],
            }],
        }
    }

    fn alias(scope: &Scope, name: &str, target: KeyId) -> AliasRecord {
        AliasRecord {
            scope: scope.clone(),
            name: AliasName(name.into()),
            target,
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        }
    }

    /// Runs every check against a fresh, empty store.
    pub fn run_all(store: &dyn Store) {
        keys_round_trip_and_are_scoped(store);
        updates_are_compare_and_set(store);
        updates_remove_material(store);
        aliases_are_unique_and_conditional(store);
        batches_are_atomic(store);
        delete_removes_key_material_and_aliases(store);
        listing_pages_in_order(store);
        due_for_deletion(store);
        root_check_is_written_once(store);
        sample_key_prefers_material(store);
        audit_chains_lookups_and_pruning(store);
        audit_appends_concurrently_in_one_chain(store);
        audit_walks_by_tags_in_bounded_steps(store);
        audit_lookups_keep_to_their_region(store);
        nul_characters_are_stored_nowhere_they_cannot_be(store);
        multi_region_copies_share_an_id(store);
        store.ping().expect("a fresh store answers");
    }

    /// The copies of a multi-Region key share one (`mrk-`) id in several Regions of one
    /// account: each is a row of its own, with its own material rows, written together in one
    /// batch, and destroyed on its own.
    pub fn multi_region_copies_share_an_id(store: &dyn Store) {
        let east = Scope::new("121212121212", "us-east-1");
        let west = Scope::new("121212121212", "eu-west-1");
        let mut primary = key(&east, KeyState::Enabled, None);
        primary.id = KeyId::generate_multi_region();
        primary.meta.multi_region = true;
        primary.meta.multi_region_set = Some(MultiRegionSet {
            primary: "us-east-1".into(),
            replicas: vec!["eu-west-1".into()],
        });
        let mut replica = primary.clone();
        replica.scope = west.clone();
        replica.meta.description = "replica".into();
        // An ordinary key with the same 16 bytes is another key.
        let mut twin = key(&east, KeyState::Enabled, None);
        twin.id = KeyId::from_bytes(*primary.id.as_bytes());
        store
            .commit(vec![
                Write::InsertKey(primary.clone()),
                Write::InsertKey(replica.clone()),
                Write::InsertKey(twin.clone()),
            ])
            .unwrap();
        assert_eq!(
            store.get_key(&east, &primary.id).unwrap(),
            Some(primary.clone())
        );
        assert_eq!(
            store.get_key(&west, &primary.id).unwrap(),
            Some(replica.clone())
        );
        assert_eq!(store.get_key(&east, &twin.id).unwrap(), Some(twin.clone()));
        assert!(store
            .list_keys(&west, None, 10)
            .unwrap()
            .contains(&primary.id));
        // Rotation: both copies gain the new version in one batch.
        let mut rotated = [primary.clone(), replica.clone()];
        for r in &mut rotated {
            r.version = 2;
            r.materials.push(SealedMaterial {
                version: 2,
                sealed: vec![8; 8],
            });
        }
        store
            .commit(
                rotated
                    .iter()
                    .map(|r| Write::UpdateKey {
                        record: r.clone(),
                        expected_version: 1,
                    })
                    .collect(),
            )
            .unwrap();
        assert_eq!(
            store.get_key(&west, &primary.id).unwrap(),
            Some(rotated[1].clone())
        );
        store
            .commit(vec![
                Write::InsertAlias(alias(&west, "alias/mrk", primary.id)),
                Write::DeleteKey {
                    scope: west.clone(),
                    id: primary.id,
                    expected_version: 2,
                },
            ])
            .unwrap();
        assert_eq!(store.get_key(&west, &primary.id).unwrap(), None);
        assert_eq!(
            store.get_key(&east, &primary.id).unwrap(),
            Some(rotated[0].clone())
        );
        assert_eq!(
            store
                .get_alias(&west, &AliasName("alias/mrk".into()))
                .unwrap(),
            None
        );
    }

    /// Runs on a store that may hold keys already: the check value is absent until the first
    /// `init_root_check`, which wins; later ones get the first value back.
    pub fn root_check_is_written_once(store: &dyn Store) {
        assert_eq!(store.root_check().unwrap(), None);
        assert_eq!(store.init_root_check(vec![1, 2, 3]).unwrap(), vec![1, 2, 3]);
        assert_eq!(store.init_root_check(vec![9]).unwrap(), vec![1, 2, 3]);
        assert_eq!(store.root_check().unwrap(), Some(vec![1, 2, 3]));
    }

    pub fn sample_key_prefers_material(store: &dyn Store) {
        let scope = Scope::new("999999999999", "ap-south-1");
        let mut bare = key(&scope, KeyState::PendingImport, None);
        bare.materials.clear();
        store.commit(vec![Write::InsertKey(bare)]).unwrap();
        let sample = store.sample_key().unwrap().expect("a key");
        assert!(!sample.materials.is_empty(), "{sample:?}");
    }

    pub fn keys_round_trip_and_are_scoped(store: &dyn Store) {
        let scope = Scope::new("111111111111", "us-east-1");
        let other = Scope::new("111111111111", "eu-west-1");
        let k = key(&scope, KeyState::Enabled, None);
        store.commit(vec![Write::InsertKey(k.clone())]).unwrap();
        assert_eq!(store.get_key(&scope, &k.id).unwrap(), Some(k.clone()));
        assert_eq!(store.get_key(&other, &k.id).unwrap(), None);
        assert_eq!(
            store.commit(vec![Write::InsertKey(k.clone())]),
            Err(StoreError::Conflict),
            "inserting an existing id must conflict"
        );
    }

    pub fn updates_are_compare_and_set(store: &dyn Store) {
        let scope = Scope::new("222222222222", "us-east-1");
        let k = key(&scope, KeyState::Enabled, None);
        store.commit(vec![Write::InsertKey(k.clone())]).unwrap();
        let mut next = k.clone();
        next.version = 2;
        next.meta.state = KeyState::Disabled;
        next.materials.push(SealedMaterial {
            version: 2,
            sealed: vec![9; 40],
        });
        store
            .commit(vec![Write::UpdateKey {
                record: next.clone(),
                expected_version: 1,
            }])
            .unwrap();
        assert_eq!(store.get_key(&scope, &k.id).unwrap(), Some(next.clone()));
        // A writer that read version 1 loses.
        let mut stale = k.clone();
        stale.version = 2;
        stale.meta.description = "stale".into();
        assert_eq!(
            store.commit(vec![Write::UpdateKey {
                record: stale,
                expected_version: 1
            }]),
            Err(StoreError::Conflict)
        );
        assert_eq!(store.get_key(&scope, &k.id).unwrap(), Some(next));
    }

    /// An update's materials are the key's materials afterwards: versions it leaves out are
    /// destroyed, and a destroyed version can be stored again (reimport of the same material).
    pub fn updates_remove_material(store: &dyn Store) {
        let scope = Scope::new("888888888888", "us-east-1");
        let mut k = key(&scope, KeyState::Enabled, None);
        k.materials.push(SealedMaterial {
            version: 2,
            sealed: vec![4, 5, 6],
        });
        store.commit(vec![Write::InsertKey(k.clone())]).unwrap();
        let mut gone = k.clone();
        gone.version = 2;
        gone.meta.state = KeyState::PendingImport;
        gone.meta.current_material = None;
        gone.materials.clear();
        store
            .commit(vec![Write::UpdateKey {
                record: gone.clone(),
                expected_version: 1,
            }])
            .unwrap();
        assert_eq!(store.get_key(&scope, &k.id).unwrap(), Some(gone.clone()));
        let mut back = gone.clone();
        back.version = 3;
        back.materials = vec![SealedMaterial {
            version: 1,
            sealed: vec![7, 7],
        }];
        store
            .commit(vec![Write::UpdateKey {
                record: back.clone(),
                expected_version: 2,
            }])
            .unwrap();
        assert_eq!(store.get_key(&scope, &k.id).unwrap(), Some(back));
    }

    pub fn aliases_are_unique_and_conditional(store: &dyn Store) {
        let scope = Scope::new("333333333333", "us-east-1");
        let a = key(&scope, KeyState::Enabled, None);
        let b = key(&scope, KeyState::Enabled, None);
        store
            .commit(vec![
                Write::InsertKey(a.clone()),
                Write::InsertKey(b.clone()),
            ])
            .unwrap();
        let al = alias(&scope, "alias/one", a.id);
        store.commit(vec![Write::InsertAlias(al.clone())]).unwrap();
        assert_eq!(
            store.commit(vec![Write::InsertAlias(alias(&scope, "alias/one", b.id))]),
            Err(StoreError::AliasExists)
        );
        // Same name in another region is a different alias.
        let elsewhere = Scope::new("333333333333", "eu-west-1");
        let c = key(&elsewhere, KeyState::Enabled, None);
        store
            .commit(vec![
                Write::InsertKey(c.clone()),
                Write::InsertAlias(alias(&elsewhere, "alias/one", c.id)),
            ])
            .unwrap();
        // Retarget only from the expected target.
        let moved = alias(&scope, "alias/one", b.id);
        assert_eq!(
            store.commit(vec![Write::RetargetAlias {
                alias: moved.clone(),
                expected_target: b.id
            }]),
            Err(StoreError::Conflict)
        );
        store
            .commit(vec![Write::RetargetAlias {
                alias: moved.clone(),
                expected_target: a.id,
            }])
            .unwrap();
        assert_eq!(store.get_alias(&scope, &al.name).unwrap(), Some(moved));
        assert_eq!(
            store.commit(vec![Write::DeleteAlias {
                scope: scope.clone(),
                name: al.name.clone(),
                expected_target: a.id
            }]),
            Err(StoreError::Conflict)
        );
        store
            .commit(vec![Write::DeleteAlias {
                scope: scope.clone(),
                name: al.name.clone(),
                expected_target: b.id,
            }])
            .unwrap();
        assert_eq!(store.get_alias(&scope, &al.name).unwrap(), None);
    }

    pub fn batches_are_atomic(store: &dyn Store) {
        let scope = Scope::new("444444444444", "us-east-1");
        let a = key(&scope, KeyState::Enabled, None);
        store.commit(vec![Write::InsertKey(a.clone())]).unwrap();
        let fresh = key(&scope, KeyState::Enabled, None);
        // The second write conflicts, so the first must not land either.
        assert_eq!(
            store.commit(vec![
                Write::InsertKey(fresh.clone()),
                Write::InsertKey(a.clone())
            ]),
            Err(StoreError::Conflict)
        );
        assert_eq!(store.get_key(&scope, &fresh.id).unwrap(), None);
    }

    pub fn delete_removes_key_material_and_aliases(store: &dyn Store) {
        let scope = Scope::new("555555555555", "us-east-1");
        let k = key(&scope, KeyState::PendingDeletion, Some(Timestamp(5)));
        store
            .commit(vec![
                Write::InsertKey(k.clone()),
                Write::InsertAlias(alias(&scope, "alias/doomed", k.id)),
            ])
            .unwrap();
        assert_eq!(
            store.commit(vec![Write::DeleteKey {
                scope: scope.clone(),
                id: k.id,
                expected_version: 7
            }]),
            Err(StoreError::Conflict)
        );
        store
            .commit(vec![Write::DeleteKey {
                scope: scope.clone(),
                id: k.id,
                expected_version: 1,
            }])
            .unwrap();
        assert_eq!(store.get_key(&scope, &k.id).unwrap(), None);
        assert_eq!(
            store
                .get_alias(&scope, &AliasName("alias/doomed".into()))
                .unwrap(),
            None
        );
        // Re-inserting the same id starts with no stale material.
        let mut again = k.clone();
        again.materials.clear();
        store.commit(vec![Write::InsertKey(again.clone())]).unwrap();
        assert_eq!(
            store.get_key(&scope, &k.id).unwrap().unwrap().materials,
            vec![]
        );
    }

    pub fn listing_pages_in_order(store: &dyn Store) {
        let scope = Scope::new("666666666666", "us-east-1");
        let mut ids: Vec<KeyId> = (0..5)
            .map(|_| {
                let k = key(&scope, KeyState::Enabled, None);
                store.commit(vec![Write::InsertKey(k.clone())]).unwrap();
                k.id
            })
            .collect();
        ids.sort();
        let first = store.list_keys(&scope, None, 2).unwrap();
        assert_eq!(first, ids[..2]);
        let rest = store.list_keys(&scope, Some(&first[1]), 10).unwrap();
        assert_eq!(rest, ids[2..]);
        for (i, name) in ["alias/c", "alias/a", "alias/b"].iter().enumerate() {
            store
                .commit(vec![Write::InsertAlias(alias(&scope, name, ids[i % 2]))])
                .unwrap();
        }
        let names = |v: Vec<AliasRecord>| v.into_iter().map(|a| a.name.0).collect::<Vec<_>>();
        assert_eq!(
            names(store.list_aliases(&scope, None, None, 10).unwrap()),
            ["alias/a", "alias/b", "alias/c"]
        );
        assert_eq!(
            names(
                store
                    .list_aliases(&scope, None, Some(&AliasName("alias/a".into())), 1)
                    .unwrap()
            ),
            ["alias/b"]
        );
        assert_eq!(
            names(store.list_aliases(&scope, Some(&ids[0]), None, 10).unwrap()),
            ["alias/b", "alias/c"]
        );
    }

    pub fn due_for_deletion(store: &dyn Store) {
        let scope = Scope::new("777777777777", "us-east-1");
        let due = key(&scope, KeyState::PendingDeletion, Some(Timestamp(1_000)));
        let later = key(&scope, KeyState::PendingDeletion, Some(Timestamp(9_000)));
        let mut expiring = key(&scope, KeyState::Enabled, None);
        expiring.meta.imports = vec![ImportedKeyMaterial {
            version: 1,
            material_check: "00".into(),
            material_id: None,
            description: None,
            pending_rotation: false,
            expiration_model: Some(ExpirationModel::KeyMaterialExpires),
            valid_to: Some(Timestamp(2_000)),
        }];
        let mut rotating = key(&scope, KeyState::Enabled, None);
        rotating.meta.rotation.next_rotation = Some(Timestamp(3_000));
        let mut disabled_rotating = rotating.clone();
        disabled_rotating.id = KeyId::generate();
        disabled_rotating.meta.state = KeyState::Disabled;
        store
            .commit(vec![
                Write::InsertKey(due.clone()),
                Write::InsertKey(later.clone()),
                Write::InsertKey(expiring.clone()),
                Write::InsertKey(rotating.clone()),
                Write::InsertKey(disabled_rotating.clone()),
            ])
            .unwrap();
        let found = store.keys_due(Timestamp(5_000), 100).unwrap();
        assert!(found.contains(&(scope.clone(), due.id)));
        assert!(!found.contains(&(scope.clone(), later.id)));
        assert!(found.contains(&(scope.clone(), expiring.id)));
        assert!(found.contains(&(scope.clone(), rotating.id)));
        assert!(
            !found.contains(&(scope.clone(), disabled_rotating.id)),
            "disabled keys do not rotate"
        );
        // Due dates follow updates: once rotated, the key is no longer due.
        let mut rotated = rotating.clone();
        rotated.version = 2;
        rotated.meta.rotation.next_rotation = Some(Timestamp(9_000));
        store
            .commit(vec![Write::UpdateKey {
                record: rotated,
                expected_version: 1,
            }])
            .unwrap();
        let found = store.keys_due(Timestamp(5_000), 100).unwrap();
        assert!(!found.contains(&(scope.clone(), rotating.id)));
    }

    fn audit_event(account: &str, time: i64, n: usize, resource: &str) -> crate::audit::AuditEvent {
        use crate::audit::{AuditAttribute, AuditEvent};
        let event_id = format!("{account}-{n}");
        AuditEvent {
            account: account.into(),
            time: Timestamp(time),
            body: format!("{{\"eventID\":\"{event_id}\",\"n\":{n}}}"),
            attributes: vec![
                (AuditAttribute::EventId, event_id.clone()),
                (
                    AuditAttribute::EventName,
                    if n.is_multiple_of(2) {
                        "Encrypt"
                    } else {
                        "Decrypt"
                    }
                    .into(),
                ),
                (AuditAttribute::ReadOnly, n.is_multiple_of(3).to_string()),
                (AuditAttribute::ResourceName, resource.into()),
                (AuditAttribute::ResourceName, resource.into()),
            ],
            event_id,
        }
    }

    /// What a caller sends may hold a NUL character, which PostgreSQL's text cannot hold: a
    /// record whose lookup values hold one commits with its neighbours in one group and is found
    /// by its other values (never by those, on any store), and a key or alias in a scope with
    /// one is simply not there.
    pub fn nul_characters_are_stored_nowhere_they_cannot_be(store: &dyn Store) {
        use crate::audit::{lookup_page, AuditAttribute, AuditEvent, AuditQuery};
        let account = "audit-nul";
        let event = |n: usize, values: &[(AuditAttribute, &str)]| {
            let event_id = format!("{account}-{n}");
            let mut attributes = vec![(AuditAttribute::EventId, event_id.clone())];
            attributes.extend(values.iter().map(|(a, v)| (*a, (*v).to_owned())));
            AuditEvent {
                account: account.into(),
                time: Timestamp(7_000 + n as i64),
                body: format!("{{\"eventID\":\"{event_id}\",\"claim\":\"a\\u0000b\"}}"),
                attributes,
                event_id,
            }
        };
        let claimed = event(
            0,
            &[
                (AuditAttribute::EventName, "Describe\0Key"),
                (AuditAttribute::AccessKeyId, "AKIA\0"),
                (AuditAttribute::ReadOnly, "tr\0ue"),
                (
                    AuditAttribute::ResourceName,
                    "arn:aws:kms:us-east-1:1\0:key/x",
                ),
                (AuditAttribute::Username, "nul-claimer"),
            ],
        );
        let plain = event(1, &[(AuditAttribute::Username, "nul-neighbour")]);
        std::thread::scope(|s| {
            for e in [&claimed, &plain] {
                s.spawn(move || store.commit(vec![Write::Audit(e.clone())]).unwrap());
            }
        });
        let find = |attribute, value: &str| {
            let query = AuditQuery {
                attribute: Some((attribute, value.to_owned())),
                ..AuditQuery::newest(account, 10)
            };
            lookup_page(store, &query, 100)
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.event_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find(AuditAttribute::Username, "nul-claimer"),
            ["audit-nul-0"]
        );
        assert_eq!(
            find(AuditAttribute::Username, "nul-neighbour"),
            ["audit-nul-1"]
        );
        for (attribute, value) in [
            (AuditAttribute::EventName, "Describe\0Key"),
            (AuditAttribute::AccessKeyId, "AKIA\0"),
            (AuditAttribute::ReadOnly, "tr\0ue"),
            (
                AuditAttribute::ResourceName,
                "arn:aws:kms:us-east-1:1\0:key/x",
            ),
        ] {
            assert!(find(attribute, value).is_empty(), "{attribute:?}");
        }
        let report = crate::audit::verify_store(store).unwrap();
        let mine = report.iter().find(|r| r.account == account).unwrap();
        assert_eq!((mine.records, &mine.fault), (2, &None));

        let nowhere = Scope::new("12345678901\0", "us-east-1");
        assert!(store
            .get_key(&nowhere, &KeyId::generate())
            .unwrap()
            .is_none());
        let alias = AliasName("alias/nul".into());
        assert!(store.get_alias(&nowhere, &alias).unwrap().is_none());
    }

    /// A lookup in a Region ([`crate::audit::lookup_in_region`]) finds the account's records of
    /// that Region alone, and those of no Region, whatever their other values (a user agent
    /// that spells out another Region's member is not the member): page by page, by time alone, by an indexed attribute
    /// and by one kept in tags; a Region whose records are rare gets short pages bounded by
    /// the scan, which followed to the end find them all.
    pub fn audit_lookups_keep_to_their_region(store: &dyn Store) {
        use crate::audit::{lookup_in_region, AuditAttribute, AuditQuery};
        let account = "audit-region";
        let region = |n: usize| match n {
            3 | 1_101 => "ap-south-1",
            7 => "",
            n if n.is_multiple_of(4) => "eu-west-1",
            _ => "us-east-1",
        };
        for batch in (0..1_200).collect::<Vec<usize>>().chunks(100) {
            let writes = batch
                .iter()
                .map(|&n| {
                    let mut event = audit_event(account, 20_000 + n as i64, n, "k");
                    event.body = format!(
                        "{{\"eventID\":\"{}\",\"userAgent\":\"x \\\"awsRegion\\\":\\\"ap-south-1\\\"\",\"awsRegion\":\"{}\",\"n\":{n}}}",
                        event.event_id,
                        region(n)
                    );
                    Write::Audit(event)
                })
                .collect();
            store.commit(writes).unwrap();
        }
        let id = |n: usize| format!("{account}-{n}");
        let expected = |keep: &dyn Fn(usize) -> bool, in_region: &str| -> Vec<String> {
            (0..1_200)
                .rev()
                .filter(|&n| (region(n) == in_region || region(n).is_empty()) && keep(n))
                .map(id)
                .collect()
        };
        let pages = |attribute: Option<(AuditAttribute, &str)>, in_region: &str, scan| {
            let mut pages = vec![];
            let mut after = None;
            loop {
                let query = AuditQuery {
                    attribute: attribute.map(|(a, v)| (a, v.to_owned())),
                    after,
                    ..AuditQuery::newest(account, 50)
                };
                let page = lookup_in_region(store, &query, in_region, scan).unwrap();
                pages.push(ids(&page.events));
                match page.resume {
                    Some(p) => after = Some(p),
                    None => return pages,
                }
            }
        };
        let all = |pages: Vec<Vec<String>>| pages.concat();
        let eu = pages(None, "eu-west-1", 10_000);
        assert_eq!(eu.len(), 7, "301 records (one of no Region), 50 a page");
        assert!(eu[..6].iter().all(|p| p.len() == 50));
        assert_eq!(all(eu), expected(&|_| true, "eu-west-1"));
        assert_eq!(
            all(pages(None, "us-east-1", 10_000)),
            expected(&|_| true, "us-east-1")
        );
        assert_eq!(
            all(pages(
                Some((AuditAttribute::EventName, "Decrypt")),
                "us-east-1",
                10_000
            )),
            expected(&|n| n % 2 == 1, "us-east-1")
        );
        assert_eq!(
            all(pages(
                Some((AuditAttribute::ReadOnly, "true")),
                "eu-west-1",
                10_000
            )),
            expected(&|n| n % 3 == 0, "eu-west-1")
        );
        // Two records in 1,200, 600 read a call: a page of the newer, then the older.
        let rare = pages(None, "ap-south-1", 600);
        assert_eq!(rare.concat(), [id(1_101), id(7), id(3)]);
        assert!(rare.len() <= 3, "{rare:?}");
        assert_eq!(pages(None, "sa-east-1", 10_000).concat(), [id(7)]);

        // Large records: a call reads at most 4 MiB of them, whatever its scan.
        let big = "audit-region-big";
        let writes = (0..60)
            .map(|n| {
                let mut event = audit_event(big, 30_000 + n as i64, n, "k");
                event.body = format!(
                    "{{\"eventID\":\"{}\",\"awsRegion\":\"eu-west-1\",\"pad\":\"{}\"}}",
                    event.event_id,
                    "p".repeat(100_000)
                );
                Write::Audit(event)
            })
            .collect();
        store.commit(writes).unwrap();
        let query = AuditQuery::newest(big, 50);
        let first = lookup_in_region(store, &query, "us-east-1", 10_000).unwrap();
        assert!(first.events.is_empty());
        let resume = first.resume.expect("a short page resumes");
        assert_eq!(
            resume.1, 10,
            "the first step's 51 records (5 MB), not all 60"
        );
        let rest = lookup_in_region(
            store,
            &AuditQuery {
                after: Some(resume),
                ..query.clone()
            },
            "us-east-1",
            10_000,
        )
        .unwrap();
        assert_eq!((rest.events.len(), rest.resume), (0, None));
        assert_eq!(
            lookup_in_region(store, &query, "eu-west-1", 10_000)
                .unwrap()
                .events
                .len(),
            50
        );
    }

    /// A walk by tags over more records than its first step ([`crate::audit::lookup_page`]):
    /// a rare value's pages stop at the bound and resume below it, a common value's pages are
    /// full, and following the pages finds what one unbounded lookup finds.
    pub fn audit_walks_by_tags_in_bounded_steps(store: &dyn Store) {
        use crate::audit::{lookup_page, AuditAttribute, AuditQuery};
        let account = "audit-walk";
        let rare = [5, 700, 1_290];
        for batch in (0..1_300).collect::<Vec<usize>>().chunks(100) {
            let writes = batch
                .iter()
                .map(|&n| {
                    // Seven records a millisecond: positions are (time, seq), not time alone.
                    let mut event = audit_event(account, 10_000 + (n / 7) as i64, n, "k");
                    let source = if rare.contains(&n) {
                        "kms.aliyuncs.com"
                    } else {
                        "kms.amazonaws.com"
                    };
                    event
                        .attributes
                        .push((AuditAttribute::EventSource, source.into()));
                    Write::Audit(event)
                })
                .collect();
            store.commit(writes).unwrap();
        }
        let query = |attribute: (AuditAttribute, &str), after, limit| AuditQuery {
            attribute: Some((attribute.0, attribute.1.to_owned())),
            after,
            ..AuditQuery::newest(account, limit)
        };
        let pages = |attribute, scan| {
            let mut pages = vec![];
            let mut after = None;
            loop {
                let page = lookup_page(store, &query(attribute, after, 50), scan).unwrap();
                pages.push(ids(&page.events));
                match page.resume {
                    Some(p) => after = Some(p),
                    None => return pages,
                }
            }
        };
        let id = |n: usize| format!("{account}-{n}");
        assert_eq!(
            pages((AuditAttribute::EventSource, "kms.aliyuncs.com"), 600),
            [vec![id(1_290), id(700)], vec![], vec![id(5)]],
            "600 records a page: the first step of 512, then 88"
        );
        // The time range bounds the walk too: no empty pages below its start.
        let since = |start| {
            let mut pages = vec![];
            let mut after = None;
            loop {
                let mut q = query((AuditAttribute::EventSource, "kms.aliyuncs.com"), after, 50);
                q.start = Some(Timestamp(start));
                let page = lookup_page(store, &q, 600).unwrap();
                pages.push(ids(&page.events));
                match page.resume {
                    Some(p) => after = Some(p),
                    None => return pages,
                }
            }
        };
        assert_eq!(
            since(10_000 + 650 / 7),
            [vec![id(1_290), id(700)], vec![]],
            "records from n = 644 on: the second walk ends at the range's start"
        );
        // A page filled exactly within the first step (171 of its 512 records, n = 1,299 down
        // to 788, are reads) resumes below that step, the record of n = 788 (seq 789), rather
        // than walking on to learn whether more follow.
        let page = lookup_page(
            store,
            &query((AuditAttribute::ReadOnly, "true"), None, 171),
            600,
        )
        .unwrap();
        assert_eq!(page.events.len(), 171);
        assert_eq!(page.events.last().map(|e| e.seq), Some(790));
        assert_eq!(page.resume, Some((Timestamp(10_000 + 788 / 7), 789)));
        assert!(
            lookup_page(
                store,
                &query((AuditAttribute::ReadOnly, "true"), None, 0),
                600
            )
            .unwrap()
            .resume
            .is_none(),
            "a limit of 0: an empty page, no walk"
        );
        let reads = (AuditAttribute::ReadOnly, "true");
        let paged = pages(reads, 600);
        assert!(
            paged.iter().all(|p| !p.is_empty()),
            "a common value fills its pages"
        );
        let whole = store.audit_lookup(&query(reads, None, 10_000)).unwrap();
        assert_eq!(whole.len(), 434);
        assert_eq!(paged.concat(), ids(&whole));
    }

    /// One group commit, driven directly through the backend's `run_group`: the batches commit
    /// as one transaction, a batch whose precondition fails fails alone (none of its writes
    /// land, nor its audit record), and the others commit with their records, in one chain.
    pub fn a_failing_batch_in_a_group_fails_alone(
        store: &dyn Store,
        run_group: &dyn Fn(Vec<Vec<Write>>) -> Vec<Result<(), StoreError>>,
    ) {
        use crate::audit::{verify_store, AuditQuery};
        let scope = Scope::new("777777777777", "us-east-1");
        let a = key(&scope, KeyState::Enabled, None);
        let b = key(&scope, KeyState::Enabled, None);
        let account = "group-trail";
        let record = |n: usize| Write::Audit(audit_event(account, 1_000 + n as i64, n, "k"));
        let results = run_group(vec![
            vec![Write::InsertKey(a.clone()), record(0)],
            // The same key again: a conflict, and its record goes with it.
            vec![Write::InsertKey(a.clone()), record(1)],
            vec![record(2)],
            vec![
                Write::InsertAlias(alias(&scope, "alias/a", a.id)),
                record(3),
            ],
            // Inserts b, then collides on the alias: b must not land.
            vec![
                Write::InsertKey(b.clone()),
                Write::InsertAlias(alias(&scope, "alias/a", b.id)),
                record(4),
            ],
            vec![Write::InsertAlias(alias(&scope, "alias/b", a.id))],
        ]);
        assert_eq!(
            results,
            vec![
                Ok(()),
                Err(StoreError::Conflict),
                Ok(()),
                Ok(()),
                Err(StoreError::AliasExists),
                Ok(())
            ]
        );
        assert_eq!(store.get_key(&scope, &a.id).unwrap(), Some(a.clone()));
        assert_eq!(store.get_key(&scope, &b.id).unwrap(), None);
        let aliases = store.list_aliases(&scope, None, None, 10).unwrap();
        assert_eq!(aliases.len(), 2);
        assert!(aliases.iter().all(|al| al.target == a.id));
        let mut recorded: Vec<String> = store
            .audit_lookup(&AuditQuery::newest(account, 10))
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        recorded.sort();
        assert_eq!(
            recorded,
            ["group-trail-0", "group-trail-2", "group-trail-3"]
        );
        // A group in which everything holds (the path without savepoints), its records
        // continuing the chain.
        let c = key(&scope, KeyState::Enabled, None);
        let results = run_group(vec![
            vec![Write::InsertKey(c.clone()), record(5)],
            vec![record(6)],
            vec![
                Write::InsertAlias(alias(&scope, "alias/c", c.id)),
                record(7),
            ],
        ]);
        assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
        assert_eq!(store.get_key(&scope, &c.id).unwrap(), Some(c.clone()));
        assert_eq!(
            store
                .get_alias(&scope, &AliasName("alias/c".into()))
                .unwrap()
                .map(|al| al.target),
            Some(c.id)
        );
        let newest = store
            .audit_lookup(&AuditQuery::newest(account, 10))
            .unwrap();
        assert_eq!(newest.len(), 6);
        assert_eq!(
            (newest[0].seq, newest[0].event_id.as_str()),
            (6, "group-trail-7")
        );
        let report = verify_store(store)
            .unwrap()
            .into_iter()
            .find(|r| r.account == account)
            .expect("the group's chain");
        assert_eq!((report.records, report.fault), (6, None));
    }

    fn ids(events: &[crate::audit::StoredAuditEvent]) -> Vec<String> {
        events.iter().map(|e| e.event_id.clone()).collect()
    }

    /// Records append to per-account chains, are found by attribute and time, newest first,
    /// page by position, verify, and are pruned as a prefix.
    pub fn audit_chains_lookups_and_pruning(store: &dyn Store) {
        use crate::audit::{verify_store, AuditAttribute, AuditQuery};
        let (a, b) = ("audit-a", "audit-b");
        for n in 0..10 {
            let resource = if n < 5 { "key-1" } else { "key-2" };
            store
                .commit(vec![Write::Audit(audit_event(
                    a,
                    1_000 + n as i64,
                    n,
                    resource,
                ))])
                .unwrap();
        }
        store
            .commit(vec![Write::Audit(audit_event(b, 1_000, 0, "key-1"))])
            .unwrap();
        let query = |attribute: Option<(AuditAttribute, &str)>, after, limit| AuditQuery {
            account: a.into(),
            attribute: attribute.map(|(k, v)| (k, v.to_owned())),
            start: None,
            end: None,
            after,
            down_to: None,
            limit,
        };
        let all = store.audit_lookup(&query(None, None, 100)).unwrap();
        assert_eq!(all.len(), 10);
        assert_eq!(all[0].event_id, "audit-a-9", "newest first");
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=10).rev().collect::<Vec<_>>()
        );
        let key1 = store
            .audit_lookup(&query(
                Some((AuditAttribute::ResourceName, "key-1")),
                None,
                100,
            ))
            .unwrap();
        assert_eq!(
            key1.len(),
            5,
            "one row per record, the other account not included"
        );
        let page = store
            .audit_lookup(&query(
                Some((AuditAttribute::EventName, "Encrypt")),
                None,
                2,
            ))
            .unwrap();
        assert_eq!(
            page.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            ["audit-a-8", "audit-a-6"]
        );
        let last = page.last().map(|e| (e.time, e.seq));
        let next = store
            .audit_lookup(&query(
                Some((AuditAttribute::EventName, "Encrypt")),
                last,
                2,
            ))
            .unwrap();
        assert_eq!(
            next.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            ["audit-a-4", "audit-a-2"]
        );
        // An attribute kept in the records' tags rather than the index
        // (AuditAttribute::is_indexed): the same answers, paged the same way.
        let reads = store
            .audit_lookup(&query(Some((AuditAttribute::ReadOnly, "true")), None, 3))
            .unwrap();
        assert_eq!(
            reads
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["audit-a-9", "audit-a-6", "audit-a-3"]
        );
        let rest = store
            .audit_lookup(&query(
                Some((AuditAttribute::ReadOnly, "true")),
                reads.last().map(|e| (e.time, e.seq)),
                3,
            ))
            .unwrap();
        assert_eq!(
            rest.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            ["audit-a-0"]
        );
        assert_eq!(
            store
                .audit_lookup(&query(Some((AuditAttribute::ReadOnly, "false")), None, 100))
                .unwrap()
                .len(),
            6
        );
        for no_match in ["tru", "true\nEventSource=x", ""] {
            assert!(store
                .audit_lookup(&query(
                    Some((AuditAttribute::ReadOnly, no_match)),
                    None,
                    100
                ))
                .unwrap()
                .is_empty());
        }
        let by_id = |id: &str| {
            store
                .audit_lookup(&query(Some((AuditAttribute::EventId, id)), None, 10))
                .unwrap()
                .into_iter()
                .map(|e| e.event_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(by_id("audit-a-7"), ["audit-a-7"]);
        assert_eq!(by_id("audit-a-0"), ["audit-a-0"]);
        assert!(by_id("audit-b-0").is_empty(), "another account's record");
        let mut bounded = query(None, None, 100);
        bounded.start = Some(Timestamp(1_003));
        bounded.end = Some(Timestamp(1_004));
        assert_eq!(store.audit_lookup(&bounded).unwrap().len(), 2);
        // Positions by time, and walks that stop at one.
        assert_eq!(
            store.audit_nth(&query(None, None, 3)).unwrap(),
            Some((Timestamp(1_007), 8)),
            "the third newest record"
        );
        assert_eq!(
            store
                .audit_nth(&query(None, Some((Timestamp(1_007), 8)), 7))
                .unwrap(),
            Some((Timestamp(1_000), 1))
        );
        assert_eq!(store.audit_nth(&query(None, None, 11)).unwrap(), None);
        let second = AuditQuery {
            limit: 2,
            ..bounded.clone()
        };
        assert_eq!(
            store.audit_nth(&second).unwrap(),
            Some((Timestamp(1_003), 4)),
            "within the time range"
        );
        let mut down_to = query(Some((AuditAttribute::ReadOnly, "false")), None, 100);
        down_to.down_to = Some((Timestamp(1_007), 8));
        assert_eq!(
            ids(&store.audit_lookup(&down_to).unwrap()),
            ["audit-a-8", "audit-a-7"],
            "down to the position, inclusive"
        );
        // A walk by tags examines at most `scan` records a page: a page with fewer matches
        // resumes where the walk stopped, until the walk reaches the oldest record.
        let pages = |attribute, limit, scan| {
            let mut pages = vec![];
            let mut after = None;
            loop {
                let page =
                    crate::audit::lookup_page(store, &query(Some(attribute), after, limit), scan)
                        .unwrap();
                pages.push(ids(&page.events));
                match page.resume {
                    Some(p) => after = Some(p),
                    None => return pages,
                }
            }
        };
        assert_eq!(
            pages((AuditAttribute::ReadOnly, "true"), 2, 4),
            [
                vec!["audit-a-9", "audit-a-6"],
                vec!["audit-a-3"],
                vec!["audit-a-0"]
            ]
        );
        assert_eq!(
            pages((AuditAttribute::EventSource, "nowhere"), 50, 4),
            [Vec::<String>::new(), vec![], vec![]],
            "no match: empty pages, each walk bounded, then the end"
        );
        assert_eq!(
            pages((AuditAttribute::ReadOnly, "true\nEventSource=x"), 3, 4),
            [Vec::<String>::new()],
            "a value no tag can hold: one empty page, no walk"
        );
        assert_eq!(
            pages((AuditAttribute::ReadOnly, "true"), 3, 100),
            [
                vec!["audit-a-9", "audit-a-6", "audit-a-3"],
                vec!["audit-a-0"]
            ],
            "a walk within the bound pages by its matches alone"
        );
        assert_eq!(
            pages((AuditAttribute::EventName, "Encrypt"), 2, 1),
            [
                vec!["audit-a-8", "audit-a-6"],
                vec!["audit-a-4", "audit-a-2"],
                vec!["audit-a-0"]
            ],
            "an indexed attribute walks its index alone, unbounded"
        );
        // Chains.
        let chain = store.audit_chain(a, 0, 100).unwrap();
        assert_eq!(chain.len(), 10);
        assert!(chain.windows(2).all(|w| w[1].prev_hash == w[0].hash));
        let reports = verify_store(store).unwrap();
        for r in reports.iter().filter(|r| r.account == a || r.account == b) {
            assert_eq!(r.fault, None, "{r:?}");
        }
        // Pruning removes a prefix and the chain still verifies from there.
        assert_eq!(store.audit_prune(Timestamp(1_004)).unwrap(), 5);
        let heads = store.audit_heads().unwrap();
        let head = heads.iter().find(|(acc, _)| acc == a).unwrap().1;
        assert_eq!((head.seq, head.pruned_through), (10, 4));
        assert_eq!(store.audit_chain(a, 0, 100).unwrap().len(), 6);
        assert_eq!(
            store.audit_lookup(&query(None, None, 100)).unwrap().len(),
            6
        );
        assert!(by_id("audit-a-0").is_empty(), "pruned");
        assert_eq!(by_id("audit-a-7"), ["audit-a-7"]);
        assert!(verify_store(store)
            .unwrap()
            .iter()
            .all(|r| r.fault.is_none()));
        store
            .commit(vec![Write::Audit(audit_event(a, 2_000, 10, "key-2"))])
            .unwrap();
        assert_eq!(
            store.audit_chain(a, 0, 100).unwrap().last().unwrap().seq,
            11
        );
    }

    /// Two stores of one database (two nodes) appending to one chain, each from two threads,
    /// still make one unbroken chain: a node that sends records after the head it last left
    /// finds it moved by the other node, and appends after the true head instead.
    pub fn audit_appends_from_two_nodes_in_one_chain(a: &dyn Store, b: &dyn Store) {
        const EACH: usize = 40;
        let account = "audit-two-nodes";
        std::thread::scope(|s| {
            for (t, store) in [a, b, a, b].into_iter().enumerate() {
                s.spawn(move || {
                    for i in 0..EACH {
                        let n = t * EACH + i;
                        store
                            .commit(vec![Write::Audit(audit_event(account, 6_000, n, "k"))])
                            .unwrap();
                    }
                });
            }
        });
        let total = 4 * EACH;
        let chain = a.audit_chain(account, 0, 1000).unwrap();
        assert_eq!(chain.len(), total);
        for store in [a, b] {
            let report = crate::audit::verify_store(store).unwrap();
            let mine = report.iter().find(|r| r.account == account).unwrap();
            assert_eq!((mine.records, &mine.fault), (total as u64, &None));
        }
        // And each node goes on appending after the other's records.
        a.commit(vec![Write::Audit(audit_event(account, 6_001, total, "k"))])
            .unwrap();
        b.commit(vec![Write::Audit(audit_event(
            account,
            6_001,
            total + 1,
            "k",
        ))])
        .unwrap();
        let report = crate::audit::verify_store(a).unwrap();
        let mine = report.iter().find(|r| r.account == account).unwrap();
        assert_eq!((mine.records, &mine.fault), (total as u64 + 2, &None));
    }

    /// Appends to one chain from several threads at once (nodes, on a shared database) still
    /// make one unbroken chain.
    pub fn audit_appends_concurrently_in_one_chain(store: &dyn Store) {
        const THREADS: usize = 4;
        const EACH: usize = 10;
        let account = "audit-concurrent";
        std::thread::scope(|s| {
            for t in 0..THREADS {
                s.spawn(move || {
                    for i in 0..EACH {
                        store
                            .commit(vec![Write::Audit(audit_event(
                                account,
                                5_000,
                                t * EACH + i,
                                "k",
                            ))])
                            .unwrap();
                    }
                });
            }
        });
        let chain = store.audit_chain(account, 0, 1000).unwrap();
        assert_eq!(chain.len(), THREADS * EACH);
        let report = crate::audit::verify_store(store).unwrap();
        let mine = report.iter().find(|r| r.account == account).unwrap();
        assert_eq!(
            (mine.records, &mine.fault),
            ((THREADS * EACH) as u64, &None)
        );
    }
}
