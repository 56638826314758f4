use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use trent_core::model::*;
use trent_core::store::{conformance, Store, StoreError, Write};
use trent_core::{AliasName, KeyId, Scope};
use trent_store::SqliteStore;

fn key_with_id(scope: &Scope, id: KeyId) -> KeyRecord {
    KeyRecord {
        id,
        scope: scope.clone(),
        version: 1,
        meta: KeyMeta {
            description: "test key".into(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            state: KeyState::Enabled,
            created_at: Timestamp(1_700_000_000_000),
            deletion_date: None,
            pending_window_days: None,
            policy: "{\"Version\":\"2012-10-17\"}".into(),
            tags: BTreeMap::from([("team".to_owned(), "x".to_owned())]),
            current_material: Some(1),
            multi_region: false,
            multi_region_set: None,
            imports: vec![],
            last_material_version: 1,
            rotation: Default::default(),
            deletion_protection: None,
            usage: Default::default(),
            grants: vec![],
        },
        materials: vec![SealedMaterial {
            version: 1,
            sealed: vec![0xAB; 60],
        }],
    }
}

fn key(scope: &Scope) -> KeyRecord {
    key_with_id(scope, KeyId::generate())
}

fn alias(scope: &Scope, name: &str, target: KeyId) -> AliasRecord {
    AliasRecord {
        scope: scope.clone(),
        name: AliasName(name.into()),
        target,
        created_at: Timestamp(10),
        updated_at: Timestamp(20),
    }
}

fn scope() -> Scope {
    Scope::new("123456789012", "us-east-1")
}

#[test]
fn conformance_file_backed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("trent.db")).unwrap();
    conformance::run_all(&store);
}

#[test]
fn conformance_in_memory() {
    let store = SqliteStore::open_in_memory().unwrap();
    conformance::run_all(&store);
}

#[test]
fn reopening_returns_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.db");
    let s = scope();
    let k = key(&s);
    let mut next = k.clone();
    next.version = 2;
    next.meta.state = KeyState::PendingDeletion;
    next.meta.deletion_date = Some(Timestamp(5));
    next.meta.current_material = Some(2);
    next.materials.push(SealedMaterial {
        version: 2,
        sealed: vec![1; 60],
    });
    let al = alias(&s, "alias/kept", k.id);
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .commit(vec![
                Write::InsertKey(k.clone()),
                Write::InsertAlias(al.clone()),
            ])
            .unwrap();
        store
            .commit(vec![Write::UpdateKey {
                record: next.clone(),
                expected_version: 1,
            }])
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get_key(&s, &k.id).unwrap(), Some(next));
    assert_eq!(store.get_alias(&s, &al.name).unwrap(), Some(al));
    assert_eq!(store.list_keys(&s, None, 10).unwrap(), vec![k.id]);
    assert_eq!(
        store.keys_due(Timestamp(5), 10).unwrap(),
        vec![(s.clone(), k.id)]
    );
    // And it is still writable after reopening.
    store.commit(vec![Write::InsertKey(key(&s))]).unwrap();
    assert_eq!(store.list_keys(&s, None, 10).unwrap().len(), 2);
}

#[test]
fn refuses_foreign_and_newer_databases() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.db");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 3;")
            .unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&foreign),
        Err(StoreError::Backend(_))
    ));

    let newer = dir.path().join("newer.db");
    drop(SqliteStore::open(&newer).unwrap());
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let err = SqliteStore::open(&newer).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("999")),
        "{err:?}"
    );

    let not_sqlite = dir.path().join("garbage.db");
    std::fs::write(&not_sqlite, vec![0x42; 8192]).unwrap();
    assert!(matches!(
        SqliteStore::open(&not_sqlite),
        Err(StoreError::Backend(_))
    ));
}

#[test]
fn listing_order_is_key_id_order() {
    let store = SqliteStore::open_in_memory().unwrap();
    let s = scope();
    // Bytes that sort differently as signed, as text or by length would give another order.
    let mut ids: Vec<KeyId> = [[0x80; 16], [0x7f; 16], [0x00; 16], [0xff; 16], [0x01; 16]]
        .into_iter()
        .map(KeyId::from_bytes)
        .chain((0..20).map(|_| KeyId::generate()))
        .collect();
    for id in &ids {
        store
            .commit(vec![Write::InsertKey(key_with_id(&s, *id))])
            .unwrap();
    }
    // Another scope's keys do not show.
    store
        .commit(vec![Write::InsertKey(key(&Scope::new(
            "123456789012",
            "eu-west-1",
        )))])
        .unwrap();
    ids.sort();
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_keys(&s, after.as_ref(), 3).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().copied();
        paged.extend(page);
    }
    assert_eq!(paged, ids);
    assert_eq!(store.list_keys(&s, None, 0).unwrap(), vec![]);

    // Alias names in byte order ('B' < '_' < 'a').
    let mut names = vec![
        "alias/b",
        "alias/B",
        "alias/_",
        "alias/a-1",
        "alias/a",
        "alias/a/x",
    ];
    for n in &names {
        store
            .commit(vec![Write::InsertAlias(alias(&s, n, ids[0]))])
            .unwrap();
    }
    names.sort();
    let listed: Vec<String> = store
        .list_aliases(&s, Some(&ids[0]), None, 100)
        .unwrap()
        .into_iter()
        .map(|a| a.name.0)
        .collect();
    assert_eq!(listed, names);
}

#[test]
fn aliases_only_point_at_existing_keys_in_their_scope() {
    let store = SqliteStore::open_in_memory().unwrap();
    let s = scope();
    let other = Scope::new("123456789012", "eu-west-1");
    let here = key(&s);
    let there = key(&other);
    store
        .commit(vec![
            Write::InsertKey(here.clone()),
            Write::InsertKey(there.clone()),
        ])
        .unwrap();
    assert_eq!(
        store.commit(vec![Write::InsertAlias(alias(
            &s,
            "alias/gone",
            KeyId::generate()
        ))]),
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.commit(vec![Write::InsertAlias(alias(&s, "alias/cross", there.id))]),
        Err(StoreError::Conflict)
    );
    store
        .commit(vec![Write::InsertAlias(alias(&s, "alias/ok", here.id))])
        .unwrap();
    assert_eq!(
        store.commit(vec![Write::RetargetAlias {
            alias: alias(&s, "alias/ok", there.id),
            expected_target: here.id
        }]),
        Err(StoreError::Conflict)
    );
    assert_eq!(store.list_aliases(&s, None, None, 10).unwrap().len(), 1);
}

#[test]
fn updates_keep_material_and_respect_scope() {
    let store = SqliteStore::open_in_memory().unwrap();
    let s = scope();
    let k = key(&s);
    store.commit(vec![Write::InsertKey(k.clone())]).unwrap();

    // A stored material version is immutable: a record listing it with other bytes keeps the
    // stored bytes.
    let mut next = k.clone();
    next.version = 2;
    for m in &mut next.materials {
        m.sealed = vec![0xEE; 8];
    }
    next.meta.description = "new".into();
    store
        .commit(vec![Write::UpdateKey {
            record: next.clone(),
            expected_version: 1,
        }])
        .unwrap();
    let stored = store.get_key(&s, &k.id).unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.meta.description, "new");
    assert_eq!(stored.materials, k.materials);

    // The same id named in another scope matches nothing.
    let mut elsewhere = stored.clone();
    elsewhere.scope = Scope::new("123456789012", "eu-west-1");
    elsewhere.version = 3;
    assert_eq!(
        store.commit(vec![Write::UpdateKey {
            record: elsewhere.clone(),
            expected_version: 2
        }]),
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.commit(vec![Write::DeleteKey {
            scope: elsewhere.scope.clone(),
            id: k.id,
            expected_version: 2
        }]),
        Err(StoreError::Conflict)
    );

    // A version that does not advance by one is refused, not stored.
    let mut skip = stored.clone();
    skip.version = 9;
    assert!(matches!(
        store.commit(vec![Write::UpdateKey {
            record: skip,
            expected_version: 2
        }]),
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.get_key(&s, &k.id).unwrap().unwrap().version, 2);
}

#[test]
fn due_for_deletion_spans_scopes_and_honours_limit() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut expected = Vec::new();
    for (i, region) in ["us-east-1", "eu-west-1", "ap-south-1"].iter().enumerate() {
        let s = Scope::new("123456789012", *region);
        let mut k = key(&s);
        k.meta.state = KeyState::PendingDeletion;
        k.meta.deletion_date = Some(Timestamp(100 + i as i64));
        let mut disabled = key(&s);
        disabled.meta.state = KeyState::Disabled;
        disabled.meta.deletion_date = Some(Timestamp(1)); // not pending: never due
        store
            .commit(vec![
                Write::InsertKey(k.clone()),
                Write::InsertKey(disabled),
            ])
            .unwrap();
        expected.push((s, k.id));
    }
    assert_eq!(store.keys_due(Timestamp(1_000), 10).unwrap(), expected);
    assert_eq!(store.keys_due(Timestamp(1_000), 2).unwrap(), expected[..2]);
    assert_eq!(store.keys_due(Timestamp(100), 10).unwrap(), expected[..1]);
    assert_eq!(store.keys_due(Timestamp(99), 10).unwrap(), vec![]);
}

#[test]
fn concurrent_compare_and_set_updates_all_make_progress() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("trent.db")).unwrap();
    let s = scope();
    let k = key(&s);
    store.commit(vec![Write::InsertKey(k.clone())]).unwrap();

    const THREADS: u64 = 8;
    const UPDATES_EACH: u64 = 15;
    let conflicts = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    std::thread::scope(|sc| {
        for t in 0..THREADS {
            let (store, s, conflicts) = (&store, &s, &conflicts);
            sc.spawn(move || {
                let mut done = 0;
                while done < UPDATES_EACH {
                    assert!(Instant::now() < deadline, "thread {t} starved");
                    let current = store.get_key(s, &k.id).unwrap().unwrap();
                    let mut next = current.clone();
                    next.version += 1;
                    next.meta.description = format!("{t}:{done}");
                    next.meta.tags.insert(format!("t{t}"), done.to_string());
                    match store.commit(vec![Write::UpdateKey {
                        record: next,
                        expected_version: current.version,
                    }]) {
                        Ok(()) => done += 1,
                        Err(StoreError::Conflict) => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("thread {t}: {e}"),
                    }
                }
            });
        }
    });
    let last = store.get_key(&s, &k.id).unwrap().unwrap();
    assert_eq!(last.version, THREADS * UPDATES_EACH + 1);
    // Every thread's last update survived in the tags: no lost update.
    for t in 0..THREADS {
        assert_eq!(
            last.meta.tags.get(&format!("t{t}")).map(String::as_str),
            Some((UPDATES_EACH - 1).to_string().as_str())
        );
    }
    eprintln!(
        "cas: {} conflicts retried, {:?}",
        conflicts.load(Ordering::Relaxed),
        store.commit_stats()
    );
}

#[test]
fn concurrent_inserts_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.db");
    let store = SqliteStore::open(&path).unwrap();
    let s = scope();
    const THREADS: usize = 16;
    const EACH: usize = 25;
    let inserted: Vec<Vec<KeyRecord>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, s) = (&store, &s);
                sc.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let k = key(s);
                            let al = alias(s, &format!("alias/t{t}-{i}"), k.id);
                            store
                                .commit(vec![Write::InsertKey(k.clone()), Write::InsertAlias(al)])
                                .unwrap();
                            // Read-your-writes: acknowledged means visible.
                            assert_eq!(store.get_key(s, &k.id).unwrap().as_ref(), Some(&k));
                            k
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stats = store.commit_stats();
    eprintln!("inserts: {stats:?}");
    assert_eq!(stats.batches, (THREADS * EACH) as u64);
    assert!(stats.groups <= stats.batches);
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    let mut want: Vec<KeyId> = inserted.iter().flatten().map(|k| k.id).collect();
    want.sort();
    assert_eq!(store.list_keys(&s, None, usize::MAX).unwrap(), want);
    assert_eq!(
        store
            .list_aliases(&s, None, None, usize::MAX)
            .unwrap()
            .len(),
        THREADS * EACH
    );
    for k in inserted.iter().flatten() {
        assert_eq!(store.get_key(&s, &k.id).unwrap().as_ref(), Some(k));
    }
}

#[test]
fn concurrent_alias_creation_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("trent.db")).unwrap();
    let s = scope();
    let keys: Vec<KeyRecord> = (0..8).map(|_| key(&s)).collect();
    store
        .commit(keys.iter().cloned().map(Write::InsertKey).collect())
        .unwrap();
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|sc| {
        let handles: Vec<_> = keys
            .iter()
            .map(|k| {
                let (store, s) = (&store, &s);
                sc.spawn(move || {
                    store.commit(vec![Write::InsertAlias(alias(s, "alias/contested", k.id))])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(StoreError::AliasExists))));
}
