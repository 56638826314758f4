//! The storage boundary. Backends (embedded SQLite, PostgreSQL) implement [`Store`]; the domain
//! never sees SQL.
//!
//! Writes are data with preconditions: a [`Write`] names the row version (or alias target) it
//! was computed from, and [`Store::commit`] applies a batch atomically or not at all. Zero rows
//! matched is a [`StoreError::Conflict`] that the engine retries by re-reading. This is what
//! keeps several nodes on one database correct.

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
}

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
}

/// The behaviour every backend must show, as one suite each backend's tests call.
pub mod conformance {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::*;

    fn key(scope: &Scope, state: KeyState, deletion: Option<Timestamp>) -> KeyRecord {
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
                imports: vec![],
                last_material_version: 1,
                rotation: Rotation::default(),
                deletion_protection: None,
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
}
