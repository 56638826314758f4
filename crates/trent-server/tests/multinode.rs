//! Several real `trent serve` processes on one fresh PostgreSQL database: the coherence bound
//! measured, conflicting changes from several nodes, background work, `kill -9` of a node
//! under load, and the database's connections cut. Needs PostgreSQL (see
//! `trent_store::postgres::testing`): without one these tests fail and say how to provide it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::types::KeyState;
use aws_sdk_kms::Client;
use common::{Server, TestDatabase};

const ROOT_KEY: &str = "8f3e0c2b9a1d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdde";
/// The nodes' coherence bound (the default).
const BOUND: Duration = Duration::from_secs(1);

fn nodes(db: &Arc<TestDatabase>, n: usize) -> Vec<Server> {
    (0..n).map(|_| Server::node(db, ROOT_KEY, &[])).collect()
}

/// How long until `node` refuses to encrypt under `id` (Disabled), polling every 10 ms.
async fn until_refused(node: &Client, id: &str, since: Instant) -> Duration {
    loop {
        match node
            .encrypt()
            .key_id(id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(common::code(&e), "DisabledException");
                return since.elapsed();
            }
        }
        assert!(since.elapsed() < 10 * BOUND, "the change never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn until_usable(node: &Client, id: &str) {
    let start = Instant::now();
    while node
        .encrypt()
        .key_id(id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
        .send()
        .await
        .is_err()
    {
        assert!(start.elapsed() < 10 * BOUND, "the key never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_on_one_node_is_seen_by_the_others_within_the_bound() {
    let db = Arc::new(TestDatabase::create());
    let n = nodes(&db, 2);
    let (a, b) = (n[0].client(), n[1].client());
    let id = common::symmetric_key(&a).await;
    let mut worst = Duration::ZERO;
    for round in 0..4 {
        // b holds the key in its cache.
        until_usable(&b, &id).await;
        common::encrypt(&b, &id, b"warm").await;
        if round == 3 {
            // The feed's connection is cut just before the change: b must not serve the
            // key beyond the bound anyway.
            db.admin(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = '{}' AND application_name = 'trent-changes'",
                db.name()
            ))
            .unwrap();
        }
        let start = Instant::now();
        a.disable_key().key_id(&id).send().await.unwrap();
        let seen = until_refused(&b, &id, start).await;
        eprintln!("round {round}: node b saw the DisableKey of node a after {seen:?}");
        worst = worst.max(seen);
        a.enable_key().key_id(&id).send().await.unwrap();
    }
    assert!(worst < BOUND, "worst {worst:?} exceeds the bound {BOUND:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_made_on_one_node_is_usable_on_another_at_once() {
    let db = Arc::new(TestDatabase::create());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trent.toml");
    let cred = |key: &str, principal: &str| {
        format!("[[credentials]]\naccess_key_id = \"{key}\"\nsecret_access_key = \"secret\"\naccount_id = \"111122223333\"\nprincipal = \"{principal}\"\n")
    };
    let bob_arn = "arn:aws:iam::111122223333:user/bob";
    std::fs::write(
        &config,
        cred("ROOT", "arn:aws:iam::111122223333:root") + &cred("BOB", bob_arn),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (a, b) = (
        Server::node(&db, ROOT_KEY, &args),
        Server::node(&db, ROOT_KEY, &args),
    );
    let root_b = b.client_for(common::REGION, "ROOT", "secret");
    let bob_a = a.client_for(common::REGION, "BOB", "secret");
    let id = common::symmetric_key(&root_b).await;
    // Node a holds the key in its cache: bob, whose identity policy allows nothing, is refused.
    let e = common::encrypt_request(&bob_a, &id, "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "AccessDeniedException");
    // The change feed stays up but carries nothing more, so that node a's cached copy stays
    // fresh in its eyes however long the test takes.
    db.query_text("ALTER TABLE keys DISABLE TRIGGER USER")
        .unwrap();
    let grant = root_b
        .create_grant()
        .key_id(&id)
        .grantee_principal(bob_arn)
        .operations(aws_sdk_kms::types::GrantOperation::Encrypt)
        .send()
        .await
        .unwrap();
    common::encrypt_request(&bob_a, &id, "x")
        .grant_tokens(grant.grant_token().unwrap())
        .send()
        .await
        .expect("the grant, with its token, is usable on the other node at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicting_changes_across_nodes_end_in_a_serial_state() {
    let db = Arc::new(TestDatabase::create());
    let n = nodes(&db, 3);
    let clients: Vec<Client> = n.iter().map(|s| s.client()).collect();
    let id = common::symmetric_key(&clients[0]).await;

    // State changes from every node at once: each is applied whole or refused by the state
    // table, never lost half-way, and no node answers an internal error.
    let mut tasks = Vec::new();
    // Twelve: every write retries a lost compare-and-set at most 15 times, so each must win
    // before then whatever the interleaving.
    for i in 0..12 {
        let kms = clients[i % 3].clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let code = match i % 4 {
                0 => kms
                    .disable_key()
                    .key_id(&id)
                    .send()
                    .await
                    .err()
                    .map(|e| common::code(&e)),
                1 => kms
                    .enable_key()
                    .key_id(&id)
                    .send()
                    .await
                    .err()
                    .map(|e| common::code(&e)),
                2 => kms
                    .schedule_key_deletion()
                    .key_id(&id)
                    .pending_window_in_days(7)
                    .send()
                    .await
                    .err()
                    .map(|e| common::code(&e)),
                _ => kms
                    .cancel_key_deletion()
                    .key_id(&id)
                    .send()
                    .await
                    .err()
                    .map(|e| common::code(&e)),
            };
            if let Some(code) = code {
                assert_eq!(code, "KMSInvalidStateException", "op {i}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::sleep(BOUND).await;
    let metas: Vec<_> = futures_like_join(&clients, &id).await;
    assert!(
        metas.windows(2).all(|w| w[0] == w[1]),
        "nodes disagree: {metas:?}"
    );
    let (state, deletion_date) = &metas[0];
    assert_eq!(
        *state == KeyState::PendingDeletion,
        deletion_date.is_some(),
        "a deletion date exactly when pending deletion"
    );

    // Two nodes race for one alias name, ten times: exactly one wins each time, and every
    // node resolves the name to the winner's key.
    let other = common::symmetric_key(&clients[1]).await;
    let first = common::symmetric_key(&clients[2]).await;
    for round in 0..10 {
        let name = format!("alias/race-{round}");
        let (r0, r1) = tokio::join!(
            clients[0]
                .create_alias()
                .alias_name(&name)
                .target_key_id(&first)
                .send(),
            clients[1]
                .create_alias()
                .alias_name(&name)
                .target_key_id(&other)
                .send(),
        );
        let winner = match (&r0, &r1) {
            (Ok(_), Err(e)) => {
                assert_eq!(common::code(e), "AlreadyExistsException");
                &first
            }
            (Err(e), Ok(_)) => {
                assert_eq!(common::code(e), "AlreadyExistsException");
                &other
            }
            other => panic!("round {round}: not exactly one winner: {other:?}"),
        };
        tokio::time::sleep(BOUND).await;
        for kms in &clients {
            let meta = common::metadata(kms, &name).await;
            assert_eq!(meta.key_id(), winner.as_str());
        }
    }
    assert_eq!(
        db.query_text("SELECT count(*) FROM aliases")
            .unwrap()
            .as_deref(),
        Some("10")
    );

    // On-demand rotations from every node: every acknowledged rotation is a new, distinct
    // material version.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let kms = clients[i % 3].clone();
        let id = first.clone();
        tasks.push(tokio::spawn(async move {
            kms.rotate_key_on_demand().key_id(&id).send().await.is_ok()
        }));
    }
    let mut rotated = 0;
    for t in tasks {
        rotated += usize::from(t.await.unwrap());
    }
    assert!(rotated >= 1);
    let materials = db
        .query_text(&format!(
            "SELECT count(DISTINCT version) FROM key_material
             WHERE key_id = decode(replace('{first}', '-', ''), 'hex')"
        ))
        .unwrap();
    assert_eq!(materials, Some((rotated + 1).to_string()));
}

async fn futures_like_join(clients: &[Client], id: &str) -> Vec<(KeyState, Option<i64>)> {
    let mut out = Vec::new();
    for kms in clients {
        let meta = common::metadata(kms, id).await;
        out.push((
            meta.key_state().unwrap().clone(),
            meta.deletion_date().map(|d| d.secs()),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_loses_no_acknowledged_write_and_one_node_sweeps() {
    let db = Arc::new(TestDatabase::create());
    let mut n = nodes(&db, 3);
    let clients: Vec<Client> = n.iter().map(|s| s.client()).collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for t in 0..6 {
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut node = t % 3;
            while Instant::now() < deadline {
                // A client whose node fails retries on the next one.
                match clients[node]
                    .create_key()
                    .description(format!("load {t}"))
                    .send()
                    .await
                {
                    Ok(out) => acknowledged.push(out.key_metadata().unwrap().key_id().to_owned()),
                    Err(_) => node = (node + 1) % 3,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    n[2].kill9();
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    assert!(
        acknowledged.len() > 10,
        "too little load: {}",
        acknowledged.len()
    );
    for id in &acknowledged {
        assert_eq!(common::key_state(&clients[0], id).await, KeyState::Enabled);
    }
    let rows: usize = db
        .query_text("SELECT count(*) FROM keys")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    // Every acknowledged key is there; a write in flight at the kill may have landed too.
    assert!(rows >= acknowledged.len());

    // Background work: deletions scheduled through both survivors are carried out once.
    let doomed = &acknowledged[..10];
    for (i, id) in doomed.iter().enumerate() {
        clients[i % 2]
            .schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
    }
    for node in &n[..2] {
        node.advance_clock(8 * 86_400).await;
    }
    let start = Instant::now();
    loop {
        let left: usize = db
            .query_text("SELECT count(*) FROM keys")
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        if left == rows - doomed.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not swept: {left} keys left"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        db.query_text("SELECT count(*) FROM key_material").unwrap(),
        Some((rows - doomed.len()).to_string())
    );
}

async fn health(node: &Server) -> u16 {
    reqwest::get(format!("{}/health", node.url))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_answer_cleanly_through_a_database_outage_and_recover() {
    let db = Arc::new(TestDatabase::create());
    let n = nodes(&db, 2);
    let a = n[0].client();
    let id = common::symmetric_key(&a).await;
    assert_eq!(health(&n[0]).await, 200);

    // The outage: no new connections, every existing one cut.
    db.admin(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        name = db.name()
    ))
    .unwrap();
    let start = Instant::now();
    let err = a.create_key().send().await.unwrap_err();
    assert_eq!(common::code(&err), "KMSInternalException");
    assert_eq!(common::status(&err), 500);
    assert!(
        start.elapsed() < Duration::from_secs(7),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(health(&n[0]).await, 503);
    // A cached key is not served past the bound without the database.
    tokio::time::sleep(BOUND).await;
    let err = a
        .encrypt()
        .key_id(&id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "KMSInternalException");

    // Back: both nodes reconnect by themselves.
    db.admin(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name()
    ))
    .unwrap();
    let start = Instant::now();
    for node in &n {
        while health(node).await != 200 {
            assert!(start.elapsed() < Duration::from_secs(15), "no recovery");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let kms = node.client();
        common::encrypt(&kms, &id, b"again").await;
        common::symmetric_key(&kms).await;
    }
}
