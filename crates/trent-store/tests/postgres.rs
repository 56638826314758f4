//! The store conformance suite and PostgreSQL's own behaviour, each test on a database of its
//! own (see `trent_store::postgres::testing`).

use std::sync::Arc;
use std::time::Duration;

use trent_core::audit::AuditEvent;
use trent_core::model::*;
use trent_core::store::{conformance, Change, ChangeFeed, Store, StoreError, Write};
use trent_core::{KeyId, Scope};
use trent_store::postgres::testing::TestDatabase;
use trent_store::{PgOptions, PgStore};

fn open(db: &TestDatabase) -> PgStore {
    PgStore::open(PgOptions::new(db.url())).expect("open the test database")
}

fn key(scope: &Scope) -> KeyRecord {
    KeyRecord {
        id: KeyId::generate(),
        scope: scope.clone(),
        version: 1,
        meta: KeyMeta {
            description: "pg".into(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            state: KeyState::Enabled,
            created_at: Timestamp(1_700_000_000_000),
            deletion_date: None,
            pending_window_days: None,
            policy: "{}".into(),
            tags: Default::default(),
            current_material: Some(1),
            multi_region: false,
            multi_region_set: None,
            imports: vec![],
            last_material_version: 1,
            rotation: Default::default(),
            deletion_protection: None,
            grants: vec![],
            usage: Default::default(),
        },
        materials: vec![SealedMaterial {
            version: 1,
            sealed: vec![7; 60],
        }],
    }
}

/// The record of a key's creation in `trail`'s chain, named by the key's id.
fn creation_record(trail: &str, k: &KeyRecord) -> AuditEvent {
    AuditEvent {
        account: trail.into(),
        time: Timestamp(9_000),
        body: format!("{{\"eventID\":\"{}\"}}", k.id),
        attributes: vec![],
        event_id: k.id.to_string(),
    }
}

fn scope() -> Scope {
    Scope::new("123456789012", "us-east-1")
}

#[test]
fn conformance() {
    let db = TestDatabase::create();
    conformance::run_all(&open(&db));
}

#[test]
fn conformance_from_inside_a_runtime() {
    // The server calls the store from async workers; that must neither panic nor deadlock.
    let db = TestDatabase::create();
    let store = Arc::new(open(&db));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = store.clone();
    rt.block_on(async move {
        tokio::spawn(async move { conformance::run_all(&*s) })
            .await
            .unwrap()
    });
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    current.block_on(async { store.ping().unwrap() });
}

#[test]
fn several_nodes_start_at_once_and_share_one_schema() {
    let db = TestDatabase::create();
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| open(&db))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let k = key(&scope());
    stores[0].commit(vec![Write::InsertKey(k.clone())]).unwrap();
    assert_eq!(stores[3].get_key(&scope(), &k.id).unwrap(), Some(k));
}

#[test]
fn a_newer_schema_is_refused() {
    let db = TestDatabase::create();
    drop(open(&db));
    let store = open(&db);
    drop(store);
    let url = db.url().to_owned();
    let sql = "UPDATE trent_schema SET version = 999";
    run_sql(&url, sql);
    let err = PgStore::open(PgOptions::new(db.url())).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("schema version 999")),
        "{err:?}"
    );
}

/// A database of schema 2 (keys identified by id alone) keeps every key, its material and its
/// aliases through the migration, and then holds a multi-Region key's copies under one id.
#[test]
fn schema_2_databases_keep_their_keys_material_and_aliases() {
    let db = TestDatabase::create();
    let scope = Scope::new("111111111111", "us-east-1");
    let old = key(&scope);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let id = hex(old.id.as_bytes());
    let meta = serde_json::to_string(&old.meta)
        .unwrap()
        .replace('\'', "''");
    let sealed = hex(&old.materials[0].sealed);
    let sql = format!(
        "{};
         INSERT INTO keys (id, account, region, version, state, meta)
             VALUES ('\\x{id}', '{a}', '{r}', 1, 'Enabled', '{meta}');
         INSERT INTO key_material (key_id, version, sealed) VALUES ('\\x{id}', 1, '\\x{sealed}');
         INSERT INTO aliases (account, region, name, target_key_id, created_at, updated_at)
             VALUES ('{a}', '{r}', 'alias/kept', '\\x{id}', 1, 1);",
        trent_store::postgres::testing::schema_at(2),
        a = scope.account.0,
        r = scope.region.0,
    );
    run_sql(db.url(), &sql);
    let store = open(&db);
    assert_eq!(store.get_key(&scope, &old.id).unwrap(), Some(old.clone()));
    assert_eq!(
        store
            .get_alias(&scope, &trent_core::AliasName("alias/kept".into()))
            .unwrap()
            .map(|a| a.target),
        Some(old.id)
    );
    conformance::multi_region_copies_share_an_id(&store);
}

/// A database that a build of commit f0b253b left at schema 9 (a BRIN index on the lookup rows'
/// time in place of their B-tree by record, taken back before release) gets the B-tree back
/// and loses the BRIN index on its way to the current schema.
#[test]
fn a_database_of_the_withdrawn_schema_9_gets_its_index_back() {
    let db = TestDatabase::create();
    let sql = format!(
        "{};
         DROP INDEX audit_attributes_by_seq;
         CREATE INDEX audit_attributes_by_time ON audit_attributes USING brin (time);",
        trent_store::postgres::testing::schema_at(9),
    );
    run_sql(db.url(), &sql);
    let store = open(&db);
    conformance::audit_appends_from_two_nodes_in_one_chain(&store, &open(&db));
    let (tx, rx) = std::sync::mpsc::channel();
    with_connection(db.url(), move |client| async move {
        let rows = client
            .query(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'audit_attributes'
                 ORDER BY indexname",
                &[],
            )
            .await
            .unwrap();
        tx.send(rows.iter().map(|r| r.get(0)).collect::<Vec<String>>())
            .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        ["audit_attributes_by_seq", "audit_attributes_pkey"]
    );
}

/// Runs `work` with a connection of its own to `url`, on a thread and runtime of its own.
fn with_connection<F, Fut>(url: &str, work: F) -> std::thread::JoinHandle<()>
where
    F: FnOnce(tokio_postgres::Client) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            work(client).await;
        })
    })
}

fn run_sql(url: &str, sql: &str) {
    let sql = sql.to_owned();
    with_connection(url, move |client| async move {
        client.batch_execute(&sql).await.unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn concurrent_commits_share_transactions_and_conflicts_stay_per_batch() {
    let db = TestDatabase::create();
    let store = open(&db);
    let s = scope();
    let shared = key(&s);
    store
        .commit(vec![Write::InsertKey(shared.clone())])
        .unwrap();
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|t| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let store = &store;
                let shared = shared.clone();
                let s = s.clone();
                t.spawn(move || {
                    if i % 4 == 0 {
                        // Everyone races to move the shared key from version 1.
                        let mut next = shared.clone();
                        next.version = 2;
                        next.meta.description = format!("writer {i}");
                        store.commit(vec![Write::UpdateKey {
                            record: next,
                            expected_version: 1,
                        }])
                    } else {
                        store.commit(vec![Write::InsertKey(key(&s))])
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let updates: Vec<_> = results.iter().step_by(4).collect();
    assert_eq!(
        updates.iter().filter(|r| r.is_ok()).count(),
        1,
        "{updates:?}"
    );
    assert!(updates
        .iter()
        .all(|r| r.is_ok() || **r == Err(StoreError::Conflict)));
    assert!(results
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 0)
        .all(|(_, r)| r.is_ok()));
    assert_eq!(store.list_keys(&s, None, 100).unwrap().len(), 25);
    let stats = store.commit_stats();
    assert_eq!(stats.batches, 33);
}

/// A key's row as PostgreSQL holds it: id, state, deletion date, due time.
type KeyColumns = (Vec<u8>, String, Option<i64>, Option<i64>);

/// Key creations that share a group are inserted together (two statements over arrays): every
/// key lands whole, in its own scope, with each of its materials and its derived columns, and
/// with its audit record; a key whose id is taken fails alone (its group runs again key by
/// key) and its record is not appended, while the others still land with theirs.
#[test]
fn concurrent_key_creations_land_whole_and_a_taken_id_fails_alone() {
    use trent_core::audit::verify_store;
    let db = TestDatabase::create();
    let store = open(&db);
    let s = scope();
    let elsewhere = Scope::new("210987654321", "eu-west-1");
    let trail = "key-creations";
    let new_key = |i: usize| {
        let mut k = key(if i.is_multiple_of(2) { &s } else { &elsewhere });
        k.meta.description = format!("key {i}");
        match i % 4 {
            // Columns that are NULL for most keys: a deletion date and a due time (its own)...
            1 => {
                k.meta.state = KeyState::PendingDeletion;
                k.meta.deletion_date = Some(Timestamp(1_800_000_000_000 + i as i64));
            }
            // ...or a due time without a deletion date (the next rotation).
            3 => k.meta.rotation.next_rotation = Some(Timestamp(1_850_000_000_000 + i as i64)),
            _ => {}
        }
        k.materials = (1..=1 + i as u32 % 3)
            .map(|v| SealedMaterial {
                version: v,
                sealed: vec![v as u8; 40 + i],
            })
            .collect();
        k
    };
    let record = |k: &KeyRecord| creation_record(trail, k);
    let create_all = |records: Vec<KeyRecord>| -> Vec<Result<(), StoreError>> {
        std::thread::scope(|t| {
            let handles: Vec<_> = records
                .into_iter()
                .map(|k| {
                    let store = &store;
                    let event = record(&k);
                    t.spawn(move || store.commit(vec![Write::InsertKey(k), Write::Audit(event)]))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    // No conflict: the groups insert their keys together.
    let first: Vec<KeyRecord> = (0..40).map(new_key).collect();
    assert!(create_all(first.clone()).iter().all(Result::is_ok));
    let stats = store.commit_stats();
    assert_eq!(stats.batches, 40);
    assert!(
        stats.groups < stats.batches,
        "no group was shared: {stats:?}"
    );
    // Every sixth creation reuses an id of the first round.
    let second: Vec<KeyRecord> = (40..88)
        .map(|i| {
            let mut k = new_key(i);
            if i % 6 == 0 {
                k.id = first[i % 40].id;
            }
            k
        })
        .collect();
    let results = create_all(second.clone());
    for (k, result) in second.iter().zip(&results) {
        if first.iter().any(|f| f.id == k.id) {
            assert_eq!(*result, Err(StoreError::Conflict), "{}", k.meta.description);
        } else {
            assert_eq!(*result, Ok(()), "{}", k.meta.description);
        }
    }
    let landed: Vec<&KeyRecord> = first
        .iter()
        .chain(
            second
                .iter()
                .zip(&results)
                .filter(|(_, r)| r.is_ok())
                .map(|(k, _)| k),
        )
        .collect();
    assert_eq!(landed.len(), 40 + 40);
    for k in &landed {
        assert_eq!(store.get_key(&k.scope, &k.id).unwrap().as_ref(), Some(*k));
    }
    // Even-numbered keys are in `s`, and so are the eight that failed.
    assert_eq!(store.list_keys(&s, None, 100).unwrap().len(), 20 + 24 - 8);
    assert_eq!(
        store.list_keys(&elsewhere, None, 100).unwrap().len(),
        20 + 24
    );
    // The columns derived from each record, as the key-by-key path writes them.
    let mut expected: Vec<KeyColumns> = landed
        .iter()
        .map(|k| {
            (
                k.id.storage_bytes(),
                k.meta.state.as_str().to_owned(),
                k.meta.deletion_date.map(|t| t.0),
                k.next_due().map(|t| t.0),
            )
        })
        .collect();
    expected.sort();
    let (tx, rx) = std::sync::mpsc::channel();
    with_connection(db.url(), move |client| async move {
        let rows = client
            .query(
                "SELECT id, state, deletion_date, due_at FROM keys ORDER BY id, state",
                &[],
            )
            .await
            .unwrap();
        let columns: Vec<KeyColumns> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        tx.send(columns).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv().unwrap(), expected);
    // One record for each key that landed, in one unbroken chain.
    let chain = store.audit_chain(trail, 0, 1_000).unwrap();
    let mut recorded: Vec<String> = chain.iter().map(|r| r.event_id.clone()).collect();
    let mut created: Vec<String> = landed.iter().map(|k| k.id.to_string()).collect();
    recorded.sort();
    created.sort();
    assert_eq!(recorded, created);
    let report = verify_store(&store).unwrap();
    let mine = report.iter().find(|r| r.account == trail).unwrap();
    assert_eq!((mine.records, &mine.fault), (80, &None));
}

#[test]
fn two_stores_see_each_others_commits_and_conflicts() {
    let db = TestDatabase::create();
    let a = open(&db);
    let b = open(&db);
    let s = scope();
    let k = key(&s);
    a.commit(vec![Write::InsertKey(k.clone())]).unwrap();
    assert_eq!(
        b.commit(vec![Write::InsertKey(k.clone())]),
        Err(StoreError::Conflict)
    );
    let mut next = k.clone();
    next.version = 2;
    b.commit(vec![Write::UpdateKey {
        record: next.clone(),
        expected_version: 1,
    }])
    .unwrap();
    assert_eq!(
        a.commit(vec![Write::UpdateKey {
            record: next,
            expected_version: 1
        }]),
        Err(StoreError::Conflict)
    );
}

#[test]
fn two_nodes_appending_to_one_chain_keep_it_unbroken() {
    let db = TestDatabase::create();
    conformance::audit_appends_from_two_nodes_in_one_chain(&open(&db), &open(&db));
}

/// A node keeps the URL's own session options (here a `search_path`: its tables go to that
/// schema, not to `public`), with its own settings after them; and whatever isolation level the
/// database defaults to, its transactions are READ COMMITTED, so that two nodes appending to one
/// chain wait for each other's heads instead of failing with serialization errors.
#[test]
fn the_urls_session_options_are_kept_and_transactions_read_committed() {
    let db = TestDatabase::create();
    db.query_text(&format!(
        "CREATE SCHEMA kms_a; ALTER DATABASE {} SET default_transaction_isolation = 'serializable'",
        db.name()
    ))
    .unwrap();
    let separator = if db.url().contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}options=-c%20search_path%3Dkms_a", db.url());
    let node = || PgStore::open(PgOptions::new(&url)).expect("open with options");
    let (a, b) = (node(), node());
    let tables = |schema: &str| {
        db.query_text(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'keys'"
        ))
        .unwrap()
    };
    assert_eq!(tables("kms_a").as_deref(), Some("1"));
    assert_eq!(tables("public").as_deref(), Some("0"));
    conformance::audit_appends_from_two_nodes_in_one_chain(&a, &b);
}

/// A group of records that fails leaves the chain where it was, and the groups after it append
/// after the true head: no gap and no broken link. (The failed group's expectation is dropped
/// with it; a burst sent after heads that moved is `a_burst_expecting_a_moved_head_commits_nothing`.)
#[test]
fn records_after_a_failed_group_follow_the_true_chain_head() {
    use trent_core::audit::verify_store;
    let db = TestDatabase::create();
    let store = open(&db);
    let account = "audit-after-failure";
    let event = |n: usize, extra: &str| AuditEvent {
        account: account.into(),
        time: Timestamp(7_000 + n as i64),
        body: format!("{{\"eventID\":\"e-{n}\"{extra}}}"),
        attributes: vec![],
        event_id: format!("e-{n}"),
    };
    store.commit(vec![Write::Audit(event(0, ""))]).unwrap();
    store.commit(vec![Write::Audit(event(1, ""))]).unwrap();
    // PostgreSQL's text refuses a NUL character: the whole group fails.
    assert!(store.commit(vec![Write::Audit(event(2, "\u{0}"))]).is_err());
    store.commit(vec![Write::Audit(event(3, ""))]).unwrap();
    store.commit(vec![Write::Audit(event(4, ""))]).unwrap();
    let chain = store.audit_chain(account, 0, 100).unwrap();
    let seqs: Vec<u64> = chain.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let report = verify_store(&store).unwrap();
    let mine = report.iter().find(|r| r.account == account).unwrap();
    assert_eq!((mine.records, &mine.fault), (4, &None));
}

/// Pruning removes the lookup rows of every record it removes and of no other, also of a record
/// whose time is later than its successor's (several nodes' clocks put it past the cut-off, but
/// its successor goes, so it goes too).
#[test]
fn pruning_removes_the_lookup_rows_of_records_written_out_of_time_order() {
    use trent_core::audit::{AuditAttribute, AuditEvent};
    let db = TestDatabase::create();
    let store = open(&db);
    let account = "audit-prune-order";
    for (n, time) in [1_000, 1_005, 1_001, 1_010].into_iter().enumerate() {
        let event = AuditEvent {
            account: account.into(),
            time: Timestamp(time),
            body: format!("{{\"eventID\":\"p-{n}\"}}"),
            attributes: vec![
                (AuditAttribute::EventId, format!("p-{n}")),
                (AuditAttribute::EventName, "Encrypt".into()),
            ],
            event_id: format!("p-{n}"),
        };
        store.commit(vec![Write::Audit(event)]).unwrap();
    }
    // The records before 1_002 end at the third (1_001), so the second (1_005) goes with them.
    assert_eq!(store.audit_prune(Timestamp(1_002)).unwrap(), 3);
    let (tx, rx) = std::sync::mpsc::channel();
    with_connection(db.url(), move |client| async move {
        let rows = client
            .query(
                "SELECT seq, count(*) FROM audit_attributes WHERE account = $1
                 GROUP BY seq ORDER BY seq",
                &[&account],
            )
            .await
            .unwrap();
        let counts: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        tx.send(counts).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        [(4, 2)],
        "only the kept record's rows remain"
    );
}

/// A nonce claimed through one node is refused through another until its request expires; an
/// expired claim is taken over, and expired claims are deleted now and then.
#[test]
fn signature_nonces_are_claimed_once_across_nodes_until_they_expire() {
    let db = TestDatabase::create();
    let (a, b) = (open(&db), open(&db));
    let nonce = [7u8; 16];
    assert_eq!(a.claim_nonce(&nonce, 1_000, 100), Ok(true));
    assert_eq!(b.claim_nonce(&nonce, 1_000, 200), Ok(false));
    assert_eq!(a.claim_nonce(&nonce, 1_000, 999), Ok(false));
    // At its bound the request is refused by the time check; the nonce is free again.
    assert_eq!(b.claim_nonce(&nonce, 2_000, 1_000), Ok(true));
    assert_eq!(a.claim_nonce(&nonce, 2_000, 1_500), Ok(false));
    // Every 1024th claim of a node deletes the claims expired for 15 minutes.
    for i in 0..1100u32 {
        let mut other = [0u8; 16];
        other[..4].copy_from_slice(&i.to_be_bytes());
        assert_eq!(a.claim_nonce(&other, 3_000, 2_500), Ok(true));
    }
    assert_eq!(a.claim_nonce(&[9; 16], 9_000, 5_000), Ok(true));
    // Expired at 5,000, but for less than 15 minutes: kept.
    assert_eq!(a.claim_nonce(&[10; 16], 4_500, 4_400), Ok(true));
    for _ in 0..1024 {
        b.claim_nonce(&[8; 16], 9_000, 5_000).unwrap();
    }
    // In the background, those expired for 15 minutes: the 1,100 claims until 3,000.
    with_connection(db.url(), |client| async move {
        let count = |sql: &'static str| {
            let client = &client;
            async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
        };
        for _ in 0..100 {
            if count("SELECT count(*) FROM signature_nonces WHERE until <= 4100").await == 0 {
                let kept = count("SELECT count(*) FROM signature_nonces WHERE until > 4100").await;
                assert_eq!(kept, 3, "the claims until 4,500 and 9,000 are kept");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expired nonces were not pruned");
    })
    .join()
    .unwrap();
}

#[test]
fn the_change_feed_reports_other_nodes_changes() {
    let db = TestDatabase::create();
    let a = open(&db);
    let b = open(&db);
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let listener = b.listen(Arc::new(move |c| {
        let _ = tx.lock().unwrap().send(c);
    }));
    // The feed announces itself with Everything once connected.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Change::Everything
    );
    // A new key is news to no node (misses are not cached): its INSERT is not announced, its
    // update is. Notifications arrive in commit order, so the first one names the update.
    let new = key(&scope());
    a.commit(vec![Write::InsertKey(new)]).unwrap();
    let k = key(&scope());
    a.commit(vec![Write::InsertKey(k.clone())]).unwrap();
    let mut disabled = k.clone();
    disabled.version = 2;
    disabled.meta.state = KeyState::Disabled;
    a.commit(vec![Write::UpdateKey {
        record: disabled,
        expected_version: 1,
    }])
    .unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Change::Key(k.id)
    );
    let start = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        listener.delivered_through().unwrap() > start,
        "heartbeats advance"
    );
    // Cut the feed's connection: it reconnects and says anything may have changed.
    db.admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND application_name = 'trent-changes'",
        db.name()
    ))
    .unwrap();
    let mut saw_everything = false;
    while let Ok(c) = rx.recv_timeout(Duration::from_secs(5)) {
        if c == Change::Everything {
            saw_everything = true;
            break;
        }
    }
    assert!(saw_everything, "a reconnected feed reports Everything");
}

#[test]
fn background_work_runs_on_one_node_at_a_time() {
    let db = TestDatabase::create();
    let a = open(&db);
    let b = open(&db);
    let ran = a
        .try_lead_background(|| {
            // While a holds the lease, b cannot take it.
            b.try_lead_background(|| ()).unwrap()
        })
        .unwrap();
    assert_eq!(ran, Some(None));
    // Released afterwards.
    assert_eq!(b.try_lead_background(|| 1).unwrap(), Some(1));
}

#[test]
fn an_unreachable_database_answers_an_error_in_time() {
    let mut options = PgOptions::new("postgres://postgres@127.0.0.1:1/none");
    options.connect_timeout = Duration::from_millis(300);
    options.request_timeout = Duration::from_millis(500);
    let start = std::time::Instant::now();
    assert!(PgStore::open(options).is_err());
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// TLS to the database follows libpq's `sslmode`: `require` encrypts without checking the
/// certificate, `verify-ca` checks its chain against `sslrootcert`, `verify-full` also its name.
#[test]
fn tls_to_the_database_follows_libpq_sslmode() {
    let db = TestDatabase::create();
    let with = |params: &str| {
        let sep = if db.url().contains('?') { '&' } else { '?' };
        PgStore::open(PgOptions::new(format!("{}{sep}{params}", db.url())))
    };
    let ssl = db.query_text("SHOW ssl").unwrap();
    if ssl.as_deref() != Some("on") {
        // A server without TLS: `require` must be refused, never fall back to plain TCP.
        assert!(with("sslmode=require").is_err());
        eprintln!("the test server has ssl = off: the certificate checks were not exercised");
        return;
    }
    let encrypted = || {
        db.query_text(&format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = '{}' AND a.application_name = 'trent' AND s.ssl",
            db.name()
        ))
        .unwrap()
        .unwrap()
        .parse::<u32>()
        .unwrap()
    };
    let store = with("sslmode=require").expect("sslmode=require");
    store.ping().unwrap();
    assert!(encrypted() >= 1, "the pool's connections use TLS");
    drop(store);

    // The server's own certificate as the trusted root (a self-signed one, as Debian's
    // default, is its own root). The test connects to 127.0.0.1, which such a certificate
    // does not name.
    let cert = db.query_text("SHOW ssl_cert_file").unwrap().unwrap();
    let cert = std::path::Path::new(&cert);
    let cert = if cert.is_absolute() {
        cert.to_path_buf()
    } else {
        let dir = db.query_text("SHOW data_directory").unwrap().unwrap();
        std::path::Path::new(&dir).join(cert)
    };
    assert!(
        std::fs::read(&cert).is_ok(),
        "the server's certificate {} must be readable for this test",
        cert.display()
    );
    let root = cert.display().to_string();
    let store = with(&format!("sslmode=verify-ca&sslrootcert={root}")).expect("verify-ca");
    store.ping().unwrap();
    drop(store);
    let err = with(&format!("sslmode=verify-full&sslrootcert={root}")).unwrap_err();
    assert!(
        err.to_string().contains("not valid for name")
            || err.to_string().contains("NotValidForName"),
        "{err}"
    );
    // A root that did not issue the certificate: refused.
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), OTHER_ROOT).unwrap();
    let err = with(&format!(
        "sslmode=verify-ca&sslrootcert={}",
        other.path().display()
    ))
    .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("issuer")
            || err.to_string().contains("certificate"),
        "{err}"
    );
}

/// A self-signed root unrelated to any server (generated for this test; its key was discarded).
const OTHER_ROOT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBlDCCATmgAwIBAgIUTppmExC2FG9+R4viB1QAeR3/M54wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTdW5yZWxhdGVkIHRlc3Qgcm9vdDAgFw0yNjEyMDUxMzQwMjBa
GA8yMTI2MTExMTEzNDAyMFowHjEcMBoGA1UEAwwTdW5yZWxhdGVkIHRlc3Qgcm9v
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFCziewkmCHz8m4FJniRYmDpYArh
EPZ0ZDCqBwftDwiIXNxj7MlCCBlfTe74r8rwjfEnFGutkBRsEbI0oi8KjJCjUzBR
MB0GA1UdDgQWBBRU+L8Dpoy5dDP0pkZVzv2ALEERSDAfBgNVHSMEGDAWgBRU+L8D
poy5dDP0pkZVzv2ALEERSDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA
MEYCIQDKWWR8dGbzUzgKdN+BZTKkGV73HptpUwd8/xmYpIbqRAIhAI2hhCOojsik
LdYH+/6tNIHMzjW0ldAXQId3fpVNJsaY
-----END CERTIFICATE-----
";

/// Schema 6 drops the keys table's duplicate of its primary key; the foreign keys that used
/// it hold on the primary key: deleting a key still removes its material and its aliases, and
/// an alias still needs its key.
#[test]
fn the_keys_table_has_one_unique_index_and_its_foreign_keys_hold() {
    let db = TestDatabase::create();
    run_sql(db.url(), &trent_store::postgres::testing::schema_at(5));
    let store = open(&db);
    let text = |sql: &str| db.query_text(sql).unwrap().unwrap_or_default();
    assert_eq!(
        text(
            "SELECT string_agg(indexname, ',') FROM pg_indexes
             WHERE tablename = 'keys' AND indexdef LIKE 'CREATE UNIQUE%'"
        ),
        "keys_pkey"
    );
    assert_eq!(
        text(
            "SELECT string_agg(conindid::regclass::text, ',') FROM pg_constraint
             WHERE contype = 'f' AND confrelid = 'keys'::regclass"
        ),
        "keys_pkey,keys_pkey"
    );
    conformance::aliases_are_unique_and_conditional(&store);
    conformance::delete_removes_key_material_and_aliases(&store);
}

/// A node starting while another upgrades the schema waits for it, however much longer than
/// the request timeout that takes (it failed after the lock timeout, and a long upgrade was
/// cancelled by the statement timeout at every start).
#[test]
fn a_node_waits_for_another_nodes_schema_upgrade_beyond_the_request_timeout() {
    let db = TestDatabase::create();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let upgrading = with_connection(db.url(), move |client| async move {
        let lock = trent_store::postgres::SCHEMA_LOCK;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&lock])
            .await
            .unwrap();
        locked.send(()).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&lock])
            .await
            .unwrap();
    });
    is_locked.recv().unwrap();
    let started = std::time::Instant::now();
    let mut options = PgOptions::new(db.url());
    options.request_timeout = Duration::from_secs(1);
    let store = PgStore::open(options).expect("opens once the other node's upgrade is done");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(store
        .get_key(&scope(), &KeyId::generate())
        .unwrap()
        .is_none());
    upgrading.join().unwrap();
}

/// While the database does not answer, a write fails within about twice the request timeout
/// however many are queued: a batch that waited longer than the timeout behind unanswered
/// groups is answered at once, not attempted (it waited group after group before).
#[test]
fn queued_writes_fail_in_time_while_the_database_does_not_answer() {
    let db = TestDatabase::create();
    let timeout = Duration::from_secs(1);
    let mut options = PgOptions::new(db.url());
    options.request_timeout = timeout;
    let store = Arc::new(PgStore::open(options).unwrap());
    // Another session holds the keys table for longer than all of it.
    let (locked, is_locked) = std::sync::mpsc::channel();
    let holder = with_connection(db.url(), move |client| async move {
        client
            .batch_execute("BEGIN; LOCK TABLE keys IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        locked.send(()).unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        client.batch_execute("COMMIT").await.unwrap();
    });
    is_locked.recv().unwrap();
    let started = std::time::Instant::now();
    let (done, answers) = std::sync::mpsc::channel();
    // One group the database holds up, then more batches than two groups take.
    for i in 0..601 {
        let done = done.clone();
        store.commit_then(
            vec![Write::InsertKey(key(&scope()))],
            Box::new(move |result| {
                let _ = done.send((result.is_err(), started.elapsed()));
            }),
        );
        if i == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(done);
    let answers: Vec<(bool, Duration)> = answers.iter().collect();
    assert_eq!(answers.len(), 601);
    assert!(answers.iter().all(|(failed, _)| *failed));
    let slowest = answers.iter().map(|(_, t)| *t).max().unwrap();
    assert!(
        slowest < timeout * 3,
        "the slowest write answered after {slowest:?}"
    );
    // Only groups that were tried count as group commits: the first, and at most two more
    // formed before their batches had waited out the timeout; not the groups answered unsent
    // (601 batches make at least four groups of at most 256).
    let stats = store.commit_stats();
    assert!(
        (1..=3).contains(&stats.groups) && stats.batches <= 1 + 2 * 256,
        "{stats:?}"
    );
    holder.join().unwrap();
}

/// A group of key creations that the node would send in one burst, one of whose keys is
/// invalid (checked before anything is sent): that batch fails alone, with its record, and the
/// others land with theirs, the chain unbroken.
#[test]
fn an_invalid_key_in_a_burst_fails_its_batch_alone() {
    use trent_core::audit::verify_store;
    let db = TestDatabase::create();
    let store = open(&db);
    let s = scope();
    let trail = "invalid-key";
    let record = |k: &KeyRecord| creation_record(trail, k);
    // A first group, so that the node expects the chain's head and bursts from then on: the
    // next one goes in one burst, as does a key without a record.
    let first = key(&s);
    store
        .commit(vec![
            Write::InsertKey(first.clone()),
            Write::Audit(record(&first)),
        ])
        .unwrap();
    let bursts = store.commit_stats().bursts;
    let (second, alone) = (key(&s), key(&s));
    store
        .commit(vec![
            Write::InsertKey(second.clone()),
            Write::Audit(record(&second)),
        ])
        .unwrap();
    store.commit(vec![Write::InsertKey(alone.clone())]).unwrap();
    assert_eq!(store.commit_stats().bursts, bursts + 2);
    assert_eq!(store.get_key(&s, &alone.id).unwrap(), Some(alone));
    let mut invalid = key(&s);
    invalid.version = 2;
    let keys: Vec<KeyRecord> = (0..12)
        .map(|i| if i == 5 { invalid.clone() } else { key(&s) })
        .collect();
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|t| {
        let handles: Vec<_> = keys
            .iter()
            .map(|k| {
                let store = &store;
                let batch = vec![Write::InsertKey(k.clone()), Write::Audit(record(k))];
                t.spawn(move || store.commit(batch))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (k, result) in keys.iter().zip(&results) {
        if k.id == invalid.id {
            assert!(result.is_err(), "the invalid key was accepted");
            assert_eq!(store.get_key(&s, &k.id).unwrap(), None);
        } else {
            assert_eq!(result, &Ok(()));
            assert_eq!(store.get_key(&s, &k.id).unwrap().as_ref(), Some(k));
        }
    }
    let chain = store.audit_chain(trail, 0, 100).unwrap();
    assert_eq!(chain.len(), 13, "one record per key that landed");
    assert!(chain
        .iter()
        .all(|r| !r.body.contains(&invalid.id.to_string())));
    let report = verify_store(&store).unwrap();
    let mine = report.iter().find(|r| r.account == trail).unwrap();
    assert_eq!((mine.records, &mine.fault), (13, &None));
}
