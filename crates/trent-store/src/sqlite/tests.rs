//! Tests that need the backend's insides: group composition and corrupt rows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use trent_core::model::{KeySpec, KeyState, KeyUsage, Origin};

use super::*;
use crate::group::Job;
use trent_core::store::conformance;

fn key(scope: &Scope) -> KeyRecord {
    KeyRecord {
        id: KeyId::generate(),
        scope: scope.clone(),
        version: 1,
        meta: KeyMeta {
            description: String::new(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            state: KeyState::Enabled,
            created_at: Timestamp(1),
            deletion_date: None,
            pending_window_days: None,
            policy: "{}".into(),
            tags: BTreeMap::new(),
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
            sealed: vec![7; 8],
        }],
    }
}

#[test]
fn a_failing_batch_in_a_group_fails_alone() {
    let store = SqliteStore::open_in_memory().unwrap();
    conformance::a_failing_batch_in_a_group_fails_alone(&store, &|batches| {
        let (jobs, waits): (Vec<_>, Vec<_>) = batches.into_iter().map(Job::detached).unzip();
        writes::run_group(&store.writer.lock(), jobs, 1);
        waits.into_iter().map(|wait| wait()).collect()
    });
    assert!(
        store.writer.lock().is_autocommit(),
        "no transaction left open"
    );
}

#[test]
fn waiting_commits_share_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("trent.db")).unwrap();
    let scope = Scope::new("111111111111", "us-east-1");
    const N: usize = 12;
    let keys: Vec<KeyRecord> = (0..N).map(|_| key(&scope)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let wait_until = |done: &dyn Fn() -> bool| {
        while !done() {
            assert!(Instant::now() < deadline, "commits did not queue");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let before = store.commit_stats();
    std::thread::scope(|s| {
        // Holding the write connection stalls the writer on the first commit; everyone else
        // queues behind it.
        let writer = store.writer.lock();
        let commit = |k: &KeyRecord| {
            let store = &store;
            let k = k.clone();
            s.spawn(move || store.commit(vec![Write::InsertKey(k)]))
        };
        let mut handles = vec![commit(&keys[0])];
        // The writer took the first commit (and waits for the connection)...
        wait_until(&|| store.commit_stats().groups == before.groups + 1);
        handles.extend(keys[1..].iter().map(commit));
        // ... and the others wait for the writer.
        wait_until(&|| store.group.queued() == N - 1);
        drop(writer);
        for h in handles {
            assert_eq!(h.join().unwrap(), Ok(()));
        }
    });
    assert_eq!(
        store.commit_stats(),
        CommitStats {
            groups: before.groups + 2,
            batches: before.batches + N as u64,
            bursts: 0,
        }
    );
    for k in &keys {
        assert_eq!(store.get_key(&scope, &k.id).unwrap().as_ref(), Some(k));
    }
}

#[test]
fn corrupt_rows_are_backend_errors() {
    let store = SqliteStore::open_in_memory().unwrap();
    let scope = Scope::new("111111111111", "us-east-1");
    let k = key(&scope);
    store.commit(vec![Write::InsertKey(k.clone())]).unwrap();
    let id = &k.id.as_bytes()[..];

    let corrupt = |sql: &str, args: &[&dyn ToSql]| {
        store.writer.lock().execute(sql, args).unwrap();
    };
    corrupt("UPDATE keys SET meta = '{not json' WHERE id = ?1", &[&id]);
    assert!(matches!(
        store.get_key(&scope, &k.id),
        Err(StoreError::Backend(_))
    ));

    corrupt("UPDATE keys SET meta = x'00ff' WHERE id = ?1", &[&id]);
    assert!(matches!(
        store.get_key(&scope, &k.id),
        Err(StoreError::Backend(_))
    ));

    let meta = serde_json::to_string(&k.meta).unwrap();
    corrupt("UPDATE keys SET meta = ?2 WHERE id = ?1", &[&id, &meta]);
    assert_eq!(store.get_key(&scope, &k.id).unwrap(), Some(k.clone()));

    corrupt(
        "UPDATE key_material SET version = 1 << 40 WHERE key_id = ?1",
        &[&id],
    );
    assert!(matches!(
        store.get_key(&scope, &k.id),
        Err(StoreError::Backend(_))
    ));

    // Alias target of the wrong type/length (bypassing the foreign key).
    store
        .writer
        .lock()
        .execute_batch("PRAGMA foreign_keys = OFF")
        .unwrap();
    corrupt(
        "INSERT INTO aliases VALUES ('111111111111', 'us-east-1', 'alias/x', 'oops', 1, 1)",
        &[],
    );
    assert!(matches!(
        store.get_alias(&scope, &AliasName("alias/x".into())),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        store.list_aliases(&scope, None, None, 10),
        Err(StoreError::Backend(_))
    ));
}

#[test]
fn debug_is_short() {
    let store = SqliteStore::open_in_memory().unwrap();
    let text = format!("{store:?}");
    assert!(text.starts_with("SqliteStore"), "{text}");
    assert!(text.len() < 100, "{text}");
}

/// A database written by schema version 1 (before `due_at`) opens, and its keys pending
/// deletion are still found by the sweeper's query.
#[test]
fn schema_1_databases_migrate_with_their_deletions_due() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.db");
    let scope = Scope::new("111111111111", "us-east-1");
    let mut doomed = key(&scope);
    doomed.meta.state = KeyState::PendingDeletion;
    doomed.meta.deletion_date = Some(Timestamp(1_000));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {}; PRAGMA user_version = 1;",
            super::schema::APPLICATION_ID
        ))
        .unwrap();
        conn.execute(
            "INSERT INTO keys (id, account, region, version, state, deletion_date, meta)
             VALUES (?1, ?2, ?3, 1, 'PendingDeletion', 1000, ?4)",
            rusqlite::params![
                &doomed.id.as_bytes()[..],
                scope.account.0,
                scope.region.0,
                serde_json::to_string(&doomed.meta).unwrap()
            ],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.keys_due(Timestamp(2_000), 10).unwrap(),
        vec![(scope.clone(), doomed.id)]
    );
    assert_eq!(store.keys_due(Timestamp(999), 10).unwrap(), vec![]);
}

#[test]
fn a_full_store_refuses_writes_as_full_and_keeps_serving_reads() {
    let store = SqliteStore::open_in_memory().unwrap();
    let scope = Scope::new("111111111111", "us-east-1");
    let first = key(&scope);
    store.commit(vec![Write::InsertKey(first.clone())]).unwrap();
    // The database's size limit stands in for a full disk: SQLite answers SQLITE_FULL to both.
    let pages: i64 = store
        .writer
        .lock()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    store
        .writer
        .lock()
        .execute_batch(&format!("PRAGMA max_page_count = {pages}"))
        .unwrap();
    let mut big = key(&scope);
    big.meta.description = "x".repeat(64 * 1024);
    assert_eq!(
        store.commit(vec![Write::InsertKey(big.clone())]),
        Err(StoreError::Full)
    );
    assert_eq!(store.get_key(&scope, &big.id).unwrap(), None);
    assert_eq!(store.get_key(&scope, &first.id).unwrap(), Some(first));
}

/// The writer checkpoints between groups once the WAL passes `CHECKPOINT_PAGES`, so the log
/// is reused from its start instead of growing with every write; every key stays readable,
/// also after reopening.
#[test]
fn the_wal_is_checkpointed_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.db");
    let scope = Scope::new("111111111111", "us-east-1");
    let store = SqliteStore::open(&path).unwrap();
    let mut written = 0usize;
    let mut ids = Vec::new();
    // Three checkpoints' worth of pages, 8 KiB of description a key.
    while written < 3 * super::writes::CHECKPOINT_PAGES as usize * 4096 {
        let batch: Vec<KeyRecord> = (0..64)
            .map(|_| {
                let mut k = key(&scope);
                k.meta.description = "d".repeat(8192);
                k
            })
            .collect();
        ids.extend(batch.iter().map(|k| k.id));
        store
            .commit(batch.into_iter().map(Write::InsertKey).collect())
            .unwrap();
        written += 64 * 8192;
    }
    let wal = std::fs::metadata(dir.path().join("trent.db-wal"))
        .unwrap()
        .len() as usize;
    assert!(
        wal < written / 2,
        "WAL of {wal} bytes after {written} bytes written: not checkpointed"
    );
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    for id in [ids[0], ids[ids.len() / 2], ids[ids.len() - 1]] {
        assert!(store.get_key(&scope, &id).unwrap().is_some());
    }
}

/// A database of schema 5 (keys identified by id alone) opens with every key, its material and
/// its aliases where they were, and then holds a multi-Region key's copies under one id.
#[test]
fn schema_5_databases_keep_their_keys_material_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.db");
    let scope = Scope::new("111111111111", "us-east-1");
    let mut old = key(&scope);
    old.materials = vec![SealedMaterial {
        version: 1,
        sealed: vec![1, 2, 3],
    }];
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for m in &super::schema::MIGRATIONS[..5] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA application_id = {}; PRAGMA user_version = 5;",
            super::schema::APPLICATION_ID
        ))
        .unwrap();
        conn.execute(
            "INSERT INTO keys (id, account, region, version, state, meta)
             VALUES (?1, ?2, ?3, 1, 'Enabled', ?4)",
            rusqlite::params![
                &old.id.as_bytes()[..],
                scope.account.0,
                scope.region.0,
                serde_json::to_string(&old.meta).unwrap()
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO key_material (key_id, version, sealed) VALUES (?1, 1, ?2)",
            rusqlite::params![&old.id.as_bytes()[..], vec![1u8, 2, 3]],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO aliases (account, region, name, target_key_id, created_at, updated_at)
             VALUES (?1, ?2, 'alias/kept', ?3, 1, 1)",
            rusqlite::params![scope.account.0, scope.region.0, &old.id.as_bytes()[..]],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get_key(&scope, &old.id).unwrap(), Some(old.clone()));
    assert_eq!(
        store
            .get_alias(&scope, &AliasName("alias/kept".into()))
            .unwrap()
            .map(|a| a.target),
        Some(old.id)
    );
    trent_core::store::conformance::multi_region_copies_share_an_id(&store);
}

/// Records written before 7 had every attribute in the index; the upgrade to 7 moves ReadOnly,
/// EventSource and ResourceType into the records' tags, the one to 8 the rest into the
/// value dictionary and its index (EventId into the records' own column), and lookups answer
/// as before.
#[test]
fn schema_6_audit_attributes_move_into_tags() {
    use trent_core::audit::{AuditAttribute, AuditQuery};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for m in &super::schema::MIGRATIONS[..6] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA application_id = {}; PRAGMA user_version = 6;",
            super::schema::APPLICATION_ID
        ))
        .unwrap();
        for (seq, read_only) in [(1, "true"), (2, "false")] {
            conn.execute(
                "INSERT INTO audit_events (account, seq, time, event_id, body, prev_hash, hash)
                 VALUES ('a', ?1, ?1, ?2, '{}', zeroblob(32), zeroblob(32))",
                rusqlite::params![seq, format!("e{seq}")],
            )
            .unwrap();
            for (name, value) in [
                ("EventId", format!("e{seq}")),
                ("ReadOnly", read_only.to_owned()),
                ("EventSource", "kms.amazonaws.com".to_owned()),
                (
                    "Username",
                    if seq == 1 { "root" } else { "alice" }.to_owned(),
                ),
            ] {
                conn.execute(
                    "INSERT INTO audit_attributes (account, name, value, time, seq)
                     VALUES ('a', ?1, ?2, ?3, ?3)",
                    rusqlite::params![name, value, seq],
                )
                .unwrap();
            }
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let find = |attribute: AuditAttribute, value: &str| {
        store
            .audit_lookup(&AuditQuery {
                account: "a".into(),
                attribute: Some((attribute, value.into())),
                start: None,
                end: None,
                after: None,
                down_to: None,
                limit: 10,
            })
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(find(AuditAttribute::ReadOnly, "false"), ["e2"]);
    assert_eq!(
        find(AuditAttribute::EventSource, "kms.amazonaws.com"),
        ["e2", "e1"]
    );
    assert_eq!(find(AuditAttribute::EventId, "e1"), ["e1"]);
    assert_eq!(find(AuditAttribute::Username, "root"), ["e1"]);
    assert_eq!(find(AuditAttribute::Username, "alice"), ["e2"]);
    assert!(find(AuditAttribute::Username, "bob").is_empty());
    let mut triples = store.audit_attributes("a", 1, 2).unwrap();
    triples.sort();
    assert_eq!(
        triples,
        [
            (1, "EventId".into(), "e1".into()),
            (1, "EventSource".into(), "kms.amazonaws.com".into()),
            (1, "ReadOnly".into(), "true".into()),
            (1, "Username".into(), "root".into()),
            (2, "EventId".into(), "e2".into()),
            (2, "EventSource".into(), "kms.amazonaws.com".into()),
            (2, "ReadOnly".into(), "false".into()),
            (2, "Username".into(), "alice".into()),
        ]
    );
}

/// The lookup index follows the records in batches (`set_audit_index_batch`): lookups answer
/// the same whether the records they find are indexed yet or not, or some of each.
#[test]
fn audit_lookups_span_indexed_and_unindexed_records() {
    let indexed = |store: &SqliteStore| -> i64 {
        store
            .writer
            .lock()
            .query_row("SELECT count(*) FROM audit_index", [], |r| r.get(0))
            .unwrap()
    };
    for batch in [1, 3, 7, 1_000] {
        let store = SqliteStore::open_in_memory().unwrap();
        store.set_audit_index_batch(batch);
        trent_core::store::conformance::audit_chains_lookups_and_pruning(&store);
        trent_core::store::conformance::audit_appends_concurrently_in_one_chain(&store);
        if batch == 1_000 {
            assert_eq!(indexed(&store), 0, "nothing indexed yet");
        } else {
            assert!(indexed(&store) > 0, "batch {batch}: some records indexed");
        }
        // 1,300 records more: with a batch of 1,000, some indexed and 300 not.
        trent_core::store::conformance::audit_walks_by_tags_in_bounded_steps(&store);
    }
}

/// A batch indexed between two pages of a lookup: the second page continues the first, each
/// record once.
#[test]
fn paging_across_an_index_batch_shows_each_record_once() {
    use trent_core::audit::{AuditAttribute, AuditEvent, AuditQuery};
    let store = SqliteStore::open_in_memory().unwrap();
    store.set_audit_index_batch(1_000);
    let event = |n: i64| AuditEvent {
        account: "a".into(),
        time: Timestamp(1_000 + n),
        event_id: format!("e{n}"),
        body: format!("{{\"n\":{n}}}"),
        attributes: vec![
            (AuditAttribute::EventId, format!("e{n}")),
            (AuditAttribute::EventName, "Encrypt".into()),
            (AuditAttribute::ResourceName, "arn:key".into()),
        ],
    };
    for n in 0..6 {
        store.commit(vec![Write::Audit(event(n))]).unwrap();
    }
    let query = |after| AuditQuery {
        account: "a".into(),
        attribute: Some((AuditAttribute::ResourceName, "arn:key".into())),
        start: None,
        end: None,
        after,
        down_to: None,
        limit: 3,
    };
    let ids = |events: Vec<trent_core::audit::StoredAuditEvent>| {
        events.into_iter().map(|e| e.event_id).collect::<Vec<_>>()
    };
    let first = store.audit_lookup(&query(None)).unwrap();
    let after = first.last().map(|e| (e.time, e.seq));
    assert_eq!(ids(first), ["e5", "e4", "e3"]);
    // The next group indexes all seven records.
    store.set_audit_index_batch(1);
    store.commit(vec![Write::Audit(event(6))]).unwrap();
    let head: i64 = store
        .writer
        .lock()
        .query_row("SELECT indexed_through FROM audit_heads", [], |r| r.get(0))
        .unwrap();
    assert_eq!(head, 7);
    assert_eq!(
        ids(store.audit_lookup(&query(after)).unwrap()),
        ["e2", "e1", "e0"]
    );
    assert_eq!(
        ids(store.audit_lookup(&query(None)).unwrap()),
        ["e6", "e5", "e4"]
    );
}

/// Index rows that point at no record (a pruning that left them behind).
fn orphan_index_rows(store: &SqliteStore) -> i64 {
    store
        .writer
        .lock()
        .query_row(
            "SELECT (SELECT count(*) FROM audit_index a JOIN audit_values v ON v.id = a.value_id
                     WHERE NOT EXISTS (SELECT 1 FROM audit_events e
                                       WHERE e.account = v.account AND e.seq = a.seq))
                  + (SELECT count(*) FROM audit_event_ids i
                     WHERE NOT EXISTS (SELECT 1 FROM audit_events e
                                       WHERE e.account = i.account AND e.seq = i.seq))",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Pruning removes the records' index rows with them, indexed or not.
#[test]
fn pruning_leaves_no_index_rows_behind() {
    for batch in [1, 3, 1_000] {
        let store = SqliteStore::open_in_memory().unwrap();
        store.set_audit_index_batch(batch);
        conformance::audit_chains_lookups_and_pruning(&store);
        assert_eq!(orphan_index_rows(&store), 0, "batch {batch}");
    }
}

fn attributed_event(n: i64) -> trent_core::audit::AuditEvent {
    use trent_core::audit::{AuditAttribute, AuditEvent};
    AuditEvent {
        account: "a".into(),
        time: Timestamp(1_000 + n),
        event_id: format!("e{n}"),
        body: format!("{{\"n\":{n}}}"),
        attributes: vec![
            (AuditAttribute::EventId, format!("e{n}")),
            (AuditAttribute::EventName, "Encrypt".into()),
            (AuditAttribute::ReadOnly, "true".into()),
            (AuditAttribute::ResourceName, "arn:k".into()),
            (AuditAttribute::ResourceName, "arn:k".into()),
            // Cannot be a tag: indexed at once.
            (AuditAttribute::Username, "a\nb".into()),
        ],
    }
}

/// `audit_attributes` (what `trent migrate` copies) lists each record's attributes once,
/// whether the record is indexed yet or not, and nothing the index keeps for itself.
#[test]
fn audit_attributes_list_each_attribute_once() {
    use trent_core::audit::{AuditAttribute, AuditQuery};
    let store = SqliteStore::open_in_memory().unwrap();
    store.set_audit_index_batch(2);
    for n in 1..=3 {
        store
            .commit(vec![Write::Audit(attributed_event(n))])
            .unwrap();
    }
    let mut triples = store.audit_attributes("a", 1, 3).unwrap();
    triples.sort();
    let mut expected = Vec::new();
    for n in 1..=3u64 {
        for (name, value) in [
            ("EventId", format!("e{n}")),
            ("EventName", "Encrypt".to_owned()),
            ("ReadOnly", "true".to_owned()),
            ("ResourceName", "arn:k".to_owned()),
            ("Username", "a\nb".to_owned()),
        ] {
            expected.push((n, name.to_owned(), value));
        }
    }
    assert_eq!(triples, expected, "records 1 and 2 indexed, 3 not yet");
    let by_user = store
        .audit_lookup(&AuditQuery {
            account: "a".into(),
            attribute: Some((AuditAttribute::Username, "a\nb".into())),
            start: None,
            end: None,
            after: None,
            down_to: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(
        by_user.len(),
        3,
        "a value that is no tag, found through the index"
    );
}

/// A schema 9 database (records indexed as each was appended, a time index and an event-id
/// index on the records) upgrades to the batched indexes with every record found as before.
#[test]
fn schema_9_trails_upgrade_to_batched_indexes() {
    use trent_core::audit::{AuditAttribute, AuditQuery};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for m in &super::schema::MIGRATIONS[..9] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA application_id = {}; PRAGMA user_version = 9;
             INSERT INTO audit_heads (account, seq, hash, pruned_through) VALUES ('a', 3, zeroblob(32), 0);
             INSERT INTO audit_values (id, account, name, value) VALUES (1, 'a', 'Username', 'alice');",
            super::schema::APPLICATION_ID
        ))
        .unwrap();
        for seq in 1..=3 {
            conn.execute(
                "INSERT INTO audit_events (account, seq, time, event_id, body, prev_hash, hash, tags)
                 VALUES ('a', ?1, ?1, ?2, '{}', zeroblob(32), zeroblob(32), ?3)",
                rusqlite::params![seq, format!("e{seq}"), "\nReadOnly=true\n"],
            )
            .unwrap();
            if seq != 2 {
                conn.execute(
                    "INSERT INTO audit_index (value_id, time, seq) VALUES (1, ?1, ?1)",
                    rusqlite::params![seq],
                )
                .unwrap();
            }
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let find = |attribute: Option<(AuditAttribute, &str)>| {
        store
            .audit_lookup(&AuditQuery {
                account: "a".into(),
                attribute: attribute.map(|(a, v)| (a, v.to_owned())),
                start: None,
                end: None,
                after: None,
                down_to: None,
                limit: 10,
            })
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(find(None), ["e3", "e2", "e1"]);
    assert_eq!(find(Some((AuditAttribute::EventId, "e2"))), ["e2"]);
    assert_eq!(
        find(Some((AuditAttribute::Username, "alice"))),
        ["e3", "e1"]
    );
    assert_eq!(
        find(Some((AuditAttribute::ReadOnly, "true"))),
        ["e3", "e2", "e1"]
    );
    let mut triples = store.audit_attributes("a", 1, 3).unwrap();
    triples.sort();
    assert_eq!(
        triples,
        [
            (1, "EventId".into(), "e1".into()),
            (1, "ReadOnly".into(), "true".into()),
            (1, "Username".into(), "alice".into()),
            (2, "EventId".into(), "e2".into()),
            (2, "ReadOnly".into(), "true".into()),
            (3, "EventId".into(), "e3".into()),
            (3, "ReadOnly".into(), "true".into()),
            (3, "Username".into(), "alice".into()),
        ]
    );
    assert_eq!(store.audit_prune(Timestamp(3)).unwrap(), 2);
    assert_eq!(find(None), ["e3"]);
    assert_eq!(orphan_index_rows(&store), 0);
    // New records join the chain and are found.
    store.set_audit_index_batch(1);
    store
        .commit(vec![Write::Audit(attributed_event(4))])
        .unwrap();
    assert_eq!(find(None), ["e4", "e3"]);
    assert_eq!(find(Some((AuditAttribute::EventId, "e4"))), ["e4"]);
}
