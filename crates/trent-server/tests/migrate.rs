//! `trent migrate` from a populated SQLite store into a fresh PostgreSQL database, then a node
//! on PostgreSQL serving what the SQLite node wrote.

mod common;

use std::process::Command;
use std::sync::Arc;

use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use common::{Server, TestDatabase};

#[tokio::test]
async fn a_populated_sqlite_store_moves_to_postgresql() {
    let mut old = Server::start_sqlite();
    let kms = old.client();
    let id = common::symmetric_key(&kms).await;
    common::create_alias(&kms, "alias/moved", &id).await;
    kms.tag_resource()
        .key_id(&id)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("team")
                .tag_value("a")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let blob = common::encrypt(&kms, "alias/moved", b"kept across the move").await;
    let signer = common::create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let doomed = common::symmetric_key(&kms).await;
    // A multi-Region key and its replica: one id in two Regions, both moved.
    let mrk = common::create_with(kms.create_key().multi_region(true)).await;
    kms.replicate_key()
        .key_id(&mrk)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let mrk_blob = common::encrypt(&kms, &mrk, b"from the primary").await;
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert!(old.terminate());
    let records = old.count_rows("audit_events");
    // PostgreSQL keeps each record's indexed lookup attributes (EventId included) as rows;
    // SQLite lists them from its columns, tags and index (which may not cover the newest
    // records yet).
    let attributes = {
        use trent_core::audit::AuditAttribute;
        use trent_core::store::Store;
        let source = trent_store::SqliteStore::open(&old.db_path()).unwrap();
        let heads = source.audit_heads().unwrap();
        heads
            .iter()
            .flat_map(|(account, head)| source.audit_attributes(account, 1, head.seq).unwrap())
            .filter(|(_, name, _)| AuditAttribute::parse(name).is_some_and(|a| a.is_indexed()))
            .count() as i64
    };
    assert!(attributes >= 2 * records, "at least EventId and EventName");
    // Every record keeps ReadOnly and EventSource in its tags (AuditAttribute::is_indexed).
    const TAGGED: &str = "audit_events WHERE tags LIKE '%ReadOnly=%EventSource=%'";
    const READS: &str = "audit_events WHERE tags LIKE '%ReadOnly=true%'";
    assert_eq!(old.count_rows(TAGGED), records);
    let reads = old.count_rows(READS);
    assert!(records >= 8, "the source's trail: {records} records");

    let db = Arc::new(TestDatabase::create());
    let run = |to: &str| {
        Command::new(env!("CARGO_BIN_EXE_trent"))
            .arg("migrate")
            .arg("--from")
            .arg(format!("sqlite://{}", old.db_path().display()))
            .arg("--to")
            .arg(to)
            .arg("--data-dir")
            .arg(old.data_dir())
            .env_remove("TRENT_ROOT_KEY")
            .output()
            .unwrap()
    };
    let out = run(db.url());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "migrated 5 keys, 6 material versions, 1 aliases, {records} audit records"
        )),
        "{stdout}"
    );
    // Never into a database that holds keys already.
    assert!(!run(db.url()).status.success());

    let root = std::fs::read_to_string(old.data_dir().join("root.key")).unwrap();
    let node = Server::node(&db, root.trim(), &[]);
    // The trail moved whole: every record with its lookup attributes.
    assert_eq!(node.count_rows("audit_events"), records);
    assert_eq!(node.count_rows("audit_attributes"), attributes);
    assert_eq!(node.count_rows(TAGGED), records);
    assert_eq!(node.count_rows(READS), reads);
    let kms = node.client();
    common::decrypts_to(&kms, &blob, b"kept across the move").await;
    assert_eq!(common::metadata(&kms, "alias/moved").await.key_id(), id);
    assert_eq!(
        common::key_state(&kms, &doomed).await,
        KeyState::PendingDeletion
    );
    common::sign(
        &kms,
        &signer,
        b"m",
        aws_sdk_kms::types::MessageType::Raw,
        &aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256,
    )
    .await;
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1);
    let west = node.client_for("eu-west-1", "test", "test");
    common::decrypts_to(&west, &mrk_blob, b"from the primary").await;
    // The node's own records continue the copied chain: it verifies end to end.
    let verify = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["audit", "verify", "--database-url", db.url()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(
        report.contains(&format!(
            "account 000000000000: intact ({} records)",
            node.count_rows("audit_events")
        )),
        "{report}"
    );
}
