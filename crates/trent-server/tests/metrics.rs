//! `/metrics` and `/health`: series that move with the traffic, bounded labels, the separate
//! metrics port and the health check's 503.

mod common;

use std::time::Duration;

use common::Server;

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn scrape(base: &str) -> String {
    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200, "{text}");
    text
}

/// The value of one series (name with its labels exactly as written), or 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn request_key_store_and_cache_series_follow_the_traffic() {
    // Without the audit trail, whose records would add a commit per request.
    let server = Server::start_with(&["--no-audit"]);
    let kms = server.client();
    let before = scrape(&server.url).await;
    assert!(before.contains("trent_build_info{version=\""), "{before}");
    assert_eq!(value(&before, "trent_keys{state=\"Enabled\"}"), 0.0);

    let id = common::symmetric_key(&kms).await;
    let blob = common::encrypt(&kms, &id, "hello").await;
    common::decrypts_to(&kms, &blob, "hello").await;
    common::decrypts_to(&kms, &blob, "hello").await;
    assert_code!(
        kms.describe_key().key_id("alias/none").send().await,
        "NotFoundException"
    );
    kms.disable_key().key_id(&id).send().await.unwrap();
    common::symmetric_key(&kms).await;

    let after = scrape(&server.url).await;
    let ok = |op: &str| {
        value(
            &after,
            &format!("trent_requests_total{{dialect=\"aws\",operation=\"{op}\",outcome=\"ok\"}}"),
        )
    };
    assert_eq!(ok("CreateKey"), 2.0);
    assert_eq!(ok("Encrypt"), 1.0);
    assert_eq!(ok("Decrypt"), 2.0);
    assert_eq!(
        value(
            &after,
            "trent_requests_total{dialect=\"aws\",operation=\"DescribeKey\",outcome=\"NotFoundException\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "trent_request_duration_seconds_count{operation=\"Decrypt\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "trent_request_duration_seconds_bucket{le=\"+Inf\",operation=\"Decrypt\"}"
        ),
        2.0
    );
    assert_eq!(value(&after, "trent_keys{state=\"Enabled\"}"), 1.0);
    assert_eq!(value(&after, "trent_keys{state=\"Disabled\"}"), 1.0);
    // CreateKey ×2, DisableKey: three commits, each timed, carried by at least one group (a
    // fourth when the sweeper has written the key uses counted since its last run).
    let commits = value(&after, "trent_store_commit_duration_seconds_count");
    assert!((3.0..=4.0).contains(&commits), "{commits} commits");
    assert_eq!(value(&after, "trent_store_commit_batches_total"), commits);
    assert!(value(&after, "trent_store_commit_groups_total") >= 1.0);
    assert!(
        after.contains("\ntrent_store_commit_bursts_total "),
        "{after}"
    );
    let bursts = value(&after, "trent_store_commit_bursts_total");
    if std::env::var("TRENT_TEST_BACKEND").as_deref() == Ok("postgres") {
        // The second CreateKey at least, once the first told the node where things stand.
        assert!((1.0..=commits).contains(&bursts), "{bursts} bursts");
    } else {
        assert_eq!(bursts, 0.0, "SQLite has no bursts");
    }
    // The first use opens the key; the next two find it in the cache.
    assert!(
        value(&after, "trent_key_cache_misses_total") >= 1.0,
        "{after}"
    );
    assert!(
        value(&after, "trent_key_cache_hits_total") >= 2.0,
        "{after}"
    );

    // Bounded labels: no key id anywhere in the exposition.
    assert!(!after.contains(&id), "a key id leaked into the metrics");
    // The trail is off for this server.
    assert_eq!(value(&after, "trent_audit_records_total"), 0.0);
}

#[tokio::test]
async fn unauthenticated_and_unknown_requests_are_counted_as_unknown() {
    let server = Server::start();
    let bad = server.client_for(common::REGION, "test", "wrong-secret");
    assert_code!(bad.list_keys().send().await, "InvalidSignatureException");
    let text = scrape(&server.url).await;
    let n: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("trent_requests_total{dialect=\"aws\",operation=\"unknown\",")
                && !l.contains("outcome=\"ok\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(n, 1.0, "{text}");
    // The refused request is on the trail, as far as it could be identified.
    assert_eq!(value(&text, "trent_audit_records_total"), 1.0, "{text}");
    assert_eq!(value(&text, "trent_audit_failures_total"), 0.0, "{text}");
}

#[tokio::test]
async fn the_sweeper_counts_its_runs_and_the_keys_it_destroys() {
    let server = Server::start_with(&["--sweep-interval-secs", "1"]);
    let kms = server.client();
    let id = common::symmetric_key(&kms).await;
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    server.advance_clock(7 * 86400 + 60).await;
    let mut text = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = scrape(&server.url).await;
        if value(&text, "trent_sweeper_keys_destroyed_total") == 1.0 {
            break;
        }
    }
    assert_eq!(
        value(&text, "trent_sweeper_keys_destroyed_total"),
        1.0,
        "{text}"
    );
    assert!(value(&text, "trent_sweeper_runs_total") >= 1.0);
    assert_eq!(value(&text, "trent_sweeper_failures_total"), 0.0);
    assert_eq!(value(&text, "trent_keys{state=\"PendingDeletion\"}"), 0.0);
}

#[tokio::test]
async fn metrics_listen_moves_metrics_and_health_and_health_reports_the_store() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = server.metrics_url.clone().expect("a metrics address");
    assert_ne!(metrics, server.url);
    // Moved: the KMS port no longer serves them.
    assert_eq!(get(&format!("{}/metrics", server.url)).await.0, 404);
    assert_eq!(get(&format!("{}/health", server.url)).await.0, 404);
    common::symmetric_key(&server.client()).await;
    let text = scrape(&metrics).await;
    assert_eq!(
        value(
            &text,
            "trent_requests_total{dialect=\"aws\",operation=\"CreateKey\",outcome=\"ok\"}"
        ),
        1.0
    );
    let (status, body) = get(&format!("{metrics}/health")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "{\"status\":\"ok\",\"database\":\"up\"}")
    );

    // The store goes away under the running server, so it is unhealthy: on SQLite its file
    // vanishes (later writes would be lost); on PostgreSQL its database refuses connections
    // and every existing one is cut.
    match &server.database {
        None => std::fs::rename(server.db_path(), server.data_dir().join("moved.db")).unwrap(),
        Some(db) => db
            .admin(&format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                name = db.name()
            ))
            .unwrap(),
    }
    let (status, body) = get(&format!("{metrics}/health")).await;
    assert_eq!(
        (status, body.as_str()),
        (503, "{\"status\":\"unavailable\",\"database\":\"down\"}")
    );
}

#[tokio::test]
async fn health_is_on_the_kms_port_by_default_without_credentials() {
    let server = Server::start();
    let (status, body) = get(&format!("{}/health", server.url)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "{\"status\":\"ok\",\"database\":\"up\"}")
    );
}
