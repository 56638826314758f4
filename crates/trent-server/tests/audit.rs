//! The audit trail through the real binary: records for success, refusal and failure (and a
//! request whose signature fails), CloudTrail's LookupEvents with every attribute, paging and
//! account isolation, no secret bytes in the store or the JSON-lines sink, the hash chain
//! verified and then broken by editing the database, fail-closed, and the trail turned off.
//! On SQLite, or on PostgreSQL with `TRENT_TEST_BACKEND=postgres` (the same tests: the store's
//! tables have the same names and columns on both).

mod common;

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use common::{Server, REGION};
use serde_json::{json, Value};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","cloudtrail:LookupEvents"],"Resource":"*"}]}"#;

fn config(extra: &str) -> String {
    let cred = |key: &str, account: &str, principal: Option<&str>, policy: Option<&str>| {
        let mut s = format!(
            "[[credentials]]\naccess_key_id = \"{key}\"\nsecret_access_key = \"secret\"\naccount_id = \"{account}\"\n"
        );
        if let Some(p) = principal {
            s += &format!("principal = \"{p}\"\n");
        }
        if let Some(p) = policy {
            s += &format!("policy = '''{p}'''\n");
        }
        s
    };
    [
        extra.to_owned(),
        cred("ROOT", ACCT, None, None),
        cred(
            "ALICE",
            ACCT,
            Some(&format!("arn:aws:iam::{ACCT}:user/alice")),
            Some(ALLOW_ALL),
        ),
        cred(
            "BOB",
            ACCT,
            Some(&format!("arn:aws:iam::{ACCT}:user/bob")),
            None,
        ),
        cred(
            "APPSESSION",
            ACCT,
            Some(&format!("arn:aws:iam::{ACCT}:role/App")),
            Some(ALLOW_ALL),
        ),
        cred("OROOT", OTHER, None, None),
    ]
    .concat()
}

struct World {
    server: Server,
    dir: tempfile::TempDir,
}

impl World {
    fn start(extra_config: &str, args: &[&str]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::write(&path, config(extra_config)).unwrap();
        let mut all = vec!["--config", path.to_str().unwrap()];
        all.extend_from_slice(args);
        World {
            server: Server::start_with(&all),
            dir,
        }
    }

    fn kms(&self, key: &str) -> aws_sdk_kms::Client {
        self.server.client_for(REGION, key, "secret")
    }

    fn db(&self) -> std::path::PathBuf {
        self.server.data_dir.join("trent.db")
    }

    /// Runs `statements` on the server's store, whichever the backend (on SQLite, with the
    /// server stopped or between its transactions).
    fn sql(&self, statements: &str) {
        match &self.server.database {
            Some(db) => {
                db.query_text(statements).expect("SQL on the test database");
            }
            None => rusqlite::Connection::open(self.db())
                .unwrap()
                .execute_batch(statements)
                .unwrap(),
        }
    }

    /// The `trent` arguments that name the server's store.
    fn store_args(&self) -> Vec<String> {
        match &self.server.database {
            Some(db) => vec!["--database-url".into(), db.url().to_owned()],
            None => vec![
                "--data-dir".into(),
                self.server.data_dir.to_str().unwrap().to_owned(),
            ],
        }
    }
}

/// A raw SigV4-signed JSON 1.1 request (service `service`, target `target`).
async fn signed(
    server: &Server,
    access_key: &str,
    secret: &str,
    service: &str,
    target: &str,
    body: &str,
) -> (u16, Value) {
    signed_in(server, REGION, access_key, secret, service, target, body).await
}

/// [`signed`] in `region`.
async fn signed_in(
    server: &Server,
    region: &str,
    access_key: &str,
    secret: &str,
    service: &str,
    target: &str,
    body: &str,
) -> (u16, Value) {
    use trent_aws::sigv4::{self, Credential, SignedRequest};
    let host = server.url.trim_start_matches("http://").to_owned();
    let date = sigv4::format_amz_date(common::now_secs());
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("host", host.as_str()),
        ("x-amz-date", date.as_str()),
        ("x-amz-target", target),
    ];
    let cred = Credential {
        access_key_id: access_key.into(),
        secret_access_key: trent_crypto::SecretBytes::new(secret.as_bytes().to_vec()),
        account_id: String::new(),
        session_token: None,
    };
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    let auth = sigv4::sign(&req, &cred, region, service, &date);
    let resp = reqwest::Client::new()
        .post(&server.url)
        .header("authorization", auth)
        .header("content-type", headers[0].1)
        .header("x-amz-date", &date)
        .header("x-amz-target", target)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const LOOKUP: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";

async fn lookup(server: &Server, key: &str, request: Value) -> (u16, Value) {
    signed(
        server,
        key,
        "secret",
        "cloudtrail",
        LOOKUP,
        &request.to_string(),
    )
    .await
}

/// Every event a lookup finds, following NextToken.
async fn lookup_all(server: &Server, key: &str, mut request: Value) -> Vec<Value> {
    let mut out = vec![];
    loop {
        let (status, page) = lookup(server, key, request.clone()).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["Events"].as_array().unwrap().iter().cloned());
        match page.get("NextToken").and_then(Value::as_str) {
            Some(t) => request["NextToken"] = json!(t),
            None => return out,
        }
    }
}

async fn by(server: &Server, key: &str, attribute: &str, value: &str) -> Vec<Value> {
    lookup_all(
        server,
        key,
        json!({"LookupAttributes": [{"AttributeKey": attribute, "AttributeValue": value}]}),
    )
    .await
}

fn record(event: &Value) -> Value {
    serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap()
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["EventName"] == name).collect()
}

const PLAINTEXT: &[u8] = b"AUDIT-PLAINTEXT-must-never-be-stored-7f3a";

#[tokio::test]
async fn every_request_is_recorded_and_looked_up_as_cloudtrail_shapes_it() {
    let w = World::start("", &[]);
    let root = w.kms("ROOT");
    let created = root
        .create_key()
        .description("audited")
        .send()
        .await
        .unwrap();
    let create_request_id = created.request_id().unwrap().to_owned();
    let meta = created.key_metadata().unwrap();
    let arn = meta.arn().unwrap().to_owned();
    let key_id = meta.key_id().to_owned();

    let encrypted = root
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(PLAINTEXT))
        .encryption_context("purpose", "audit-test")
        .send()
        .await
        .unwrap();
    let encrypt_request_id = encrypted.request_id().unwrap().to_owned();
    let ciphertext = encrypted.ciphertext_blob().unwrap().as_ref().to_vec();
    root.decrypt()
        .ciphertext_blob(Blob::new(ciphertext.clone()))
        .encryption_context("purpose", "audit-test")
        .send()
        .await
        .unwrap();
    // A refusal: bob has no identity policy.
    let refused = w
        .kms("BOB")
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(PLAINTEXT))
        .send()
        .await;
    assert_eq!(common::code(&refused.unwrap_err()), "AccessDeniedException");
    // A failure: a ciphertext that does not open.
    let mut broken = ciphertext.clone();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let failed = root
        .decrypt()
        .key_id(&key_id)
        .ciphertext_blob(Blob::new(broken))
        .encryption_context("purpose", "audit-test")
        .send()
        .await;
    assert_eq!(
        common::code(&failed.unwrap_err()),
        "InvalidCiphertextException"
    );
    // A role session and an IAM user.
    w.kms("APPSESSION")
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(PLAINTEXT))
        .send()
        .await
        .unwrap();
    let data_key = w
        .kms("ALICE")
        .generate_data_key()
        .key_id(&arn)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    // A signature that does not verify, claiming ROOT's access key.
    let (status, _) = signed(
        &w.server,
        "ROOT",
        "not-the-secret",
        "kms",
        "TrentService.ListKeys",
        "{}",
    )
    .await;
    assert_eq!(status, 400);

    // Everything about the key, newest first.
    let events = by(&w.server, "ROOT", "ResourceName", &arn).await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["EventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "GenerateDataKey",
            "Encrypt",
            "Decrypt",
            "Encrypt",
            "Decrypt",
            "Encrypt",
            "CreateKey"
        ],
        "{events:#?}"
    );

    // CreateKey: the record AWS writes, with the key metadata and the response's request id.
    let create = record(named(&events, "CreateKey")[0]);
    assert_eq!(create["eventVersion"], "1.08");
    assert_eq!(create["eventSource"], "kms.amazonaws.com");
    assert_eq!(create["awsRegion"], REGION);
    assert_eq!(create["requestID"], create_request_id.as_str());
    assert_eq!(create["readOnly"], false);
    assert_eq!(create["eventType"], "AwsApiCall");
    assert_eq!(create["managementEvent"], true);
    assert_eq!(create["eventCategory"], "Management");
    assert_eq!(create["recipientAccountId"], ACCT);
    assert_eq!(create["sourceIPAddress"], "127.0.0.1");
    assert!(create["userAgent"]
        .as_str()
        .unwrap()
        .contains("aws-sdk-rust"));
    assert_eq!(
        create["userIdentity"],
        json!({"type": "Root", "principalId": ACCT, "arn": format!("arn:aws:iam::{ACCT}:root"),
               "accountId": ACCT, "accessKeyId": "ROOT"})
    );
    assert_eq!(create["requestParameters"]["description"], "audited");
    assert_eq!(
        create["responseElements"]["keyMetadata"]["keyId"],
        key_id.as_str()
    );
    assert_eq!(
        create["responseElements"]["keyMetadata"]["arn"],
        arn.as_str()
    );
    assert_eq!(
        create["resources"],
        json!([{"accountId": ACCT, "type": "AWS::KMS::Key", "ARN": arn}])
    );
    assert!(create.get("errorCode").is_none());

    // Encrypt: parameters without the plaintext, null response elements.
    let encrypt = events
        .iter()
        .map(record)
        .find(|r| r["requestID"] == encrypt_request_id.as_str())
        .unwrap();
    assert_eq!(encrypt["eventName"], "Encrypt");
    assert_eq!(encrypt["readOnly"], true);
    assert_eq!(encrypt["responseElements"], Value::Null);
    assert_eq!(
        encrypt["requestParameters"],
        json!({"keyId": key_id, "encryptionContext": {"purpose": "audit-test"}})
    );

    // The refusal and the failure carry their error.
    let bob = by(&w.server, "ROOT", "Username", "bob").await;
    assert_eq!(bob.len(), 1);
    let bob = record(&bob[0]);
    assert_eq!(bob["errorCode"], "AccessDeniedException");
    assert!(bob["errorMessage"].as_str().unwrap().contains("user/bob"));
    assert_eq!(bob["userIdentity"]["type"], "IAMUser");
    assert_eq!(bob["userIdentity"]["userName"], "bob");
    let failed: Vec<Value> = named(&events, "Decrypt")
        .into_iter()
        .map(record)
        .filter(|r| r.get("errorCode").is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["errorCode"], "InvalidCiphertextException");

    // The role session.
    let app = by(&w.server, "ROOT", "AccessKeyId", "APPSESSION").await;
    assert_eq!(app.len(), 1);
    assert_eq!(app[0]["Username"], "APPSESSION");
    let app = record(&app[0]);
    assert_eq!(app["userIdentity"]["type"], "AssumedRole");
    assert_eq!(
        app["userIdentity"]["arn"],
        format!("arn:aws:sts::{ACCT}:assumed-role/App/APPSESSION")
    );
    assert_eq!(
        app["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
        format!("arn:aws:iam::{ACCT}:role/App")
    );

    // The request whose signature failed: as far as it could be identified.
    let unverified = by(&w.server, "ROOT", "EventName", "ListKeys").await;
    assert_eq!(unverified.len(), 1, "{unverified:#?}");
    let unverified = record(&unverified[0]);
    assert_eq!(unverified["errorCode"], "InvalidSignatureException");
    assert_eq!(unverified["userIdentity"]["accessKeyId"], "ROOT");
    assert_eq!(unverified["sourceIPAddress"], "127.0.0.1");

    // Every lookup attribute.
    let event_id = events[0]["EventId"].as_str().unwrap();
    let one = by(&w.server, "ROOT", "EventId", event_id).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["EventName"], "GenerateDataKey");
    assert_eq!(one[0]["Username"], "alice");
    assert_eq!(
        one[0]["Resources"],
        json!([{"ResourceType": "AWS::KMS::Key", "ResourceName": arn}])
    );
    assert!(one[0]["EventTime"].as_f64().unwrap() > 1.7e9);
    assert_eq!(by(&w.server, "ROOT", "EventName", "Decrypt").await.len(), 2);
    let writes = by(&w.server, "ROOT", "ReadOnly", "false").await;
    assert!(writes.iter().all(|e| e["ReadOnly"] == "false"));
    assert!(named(&writes, "CreateKey").len() == 1);
    assert_eq!(by(&w.server, "ROOT", "Username", "alice").await.len(), 1);
    assert_eq!(
        by(&w.server, "ROOT", "ResourceType", "AWS::KMS::Key")
            .await
            .len(),
        7
    );
    assert_eq!(
        by(&w.server, "ROOT", "EventSource", "kms.amazonaws.com")
            .await
            .len(),
        8
    );
    assert_eq!(by(&w.server, "ROOT", "AccessKeyId", "ALICE").await.len(), 1);

    // Time bounds.
    let future = common::now_secs() + 3600;
    let (_, none) = lookup(&w.server, "ROOT", json!({"StartTime": future})).await;
    assert_eq!(none["Events"], json!([]));

    // Paging: pages of two give the same events, in the same order, as one page.
    let all = lookup_all(&w.server, "ROOT", json!({})).await;
    let paged = lookup_all(&w.server, "ROOT", json!({"MaxResults": 2})).await;
    assert_eq!(all.len(), 8);
    assert_eq!(all, paged);
    let (status, err) = lookup(&w.server, "ROOT", json!({"MaxResults": 51})).await;
    assert_eq!(
        (status, err["__type"].as_str()),
        (400, Some("InvalidMaxResultsException"))
    );
    let (status, err) = lookup(&w.server, "ROOT", json!({"NextToken": "bogus"})).await;
    assert_eq!(
        (status, err["__type"].as_str()),
        (400, Some("InvalidNextTokenException"))
    );

    // Account isolation: the other account sees none of it, not even through a token.
    assert!(by(&w.server, "OROOT", "ResourceName", &arn)
        .await
        .is_empty());
    assert!(lookup_all(&w.server, "OROOT", json!({})).await.is_empty());
    let (_, page) = lookup(&w.server, "ROOT", json!({"MaxResults": 1})).await;
    let token = page["NextToken"].as_str().unwrap();
    let (status, err) = lookup(&w.server, "OROOT", json!({"NextToken": token})).await;
    assert_eq!(
        (status, err["__type"].as_str()),
        (400, Some("InvalidNextTokenException"))
    );

    // Authorization: bob's identity policy does not allow it; alice's does.
    let (status, err) = lookup(&w.server, "BOB", json!({})).await;
    assert_eq!(
        (status, err["__type"].as_str()),
        (400, Some("AccessDeniedException"))
    );
    assert_eq!(lookup_all(&w.server, "ALICE", json!({})).await.len(), 8);

    // No secret bytes in the store: not the plaintext, the ciphertext or the data key, raw or
    // in base64, in any record or in the database files.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let secrets: Vec<Vec<u8>> = vec![
        PLAINTEXT.to_vec(),
        b64(PLAINTEXT).into_bytes(),
        b64(&ciphertext).into_bytes(),
        b64(data_key.plaintext().unwrap().as_ref()).into_bytes(),
        b64(data_key.ciphertext_blob().unwrap().as_ref()).into_bytes(),
        data_key.plaintext().unwrap().as_ref().to_vec(),
    ];
    let exported = export(&w, "0");
    assert_eq!(exported["Records"].as_array().unwrap().len(), 8);
    let mut haystacks = vec![exported.to_string().into_bytes()];
    match &w.server.database {
        // PostgreSQL's files are its own: every text the trail's tables hold.
        Some(db) => {
            for sql in [
                "SELECT string_agg(body, ' ') FROM audit_events",
                "SELECT string_agg(value, ' ') FROM audit_attributes",
            ] {
                haystacks.push(db.query_text(sql).unwrap().unwrap_or_default().into_bytes());
            }
        }
        None => {
            for suffix in ["", "-wal"] {
                let path = format!("{}{suffix}", w.db().display());
                if let Ok(bytes) = std::fs::read(path) {
                    haystacks.push(bytes);
                }
            }
        }
    }
    for hay in &haystacks {
        for secret in &secrets {
            assert!(
                !hay.windows(secret.len()).any(|w| w == secret.as_slice()),
                "a secret reached the store"
            );
        }
    }
}

/// `trent audit COMMAND` on the server's store.
fn trent_audit(w: &World, command: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_trent"))
        .arg("audit")
        .args(command)
        .args(w.store_args())
        .env_remove("TRENT_DATA_DIR")
        .env_remove("TRENT_DATABASE_URL")
        .output()
        .unwrap()
}

fn export(w: &World, since: &str) -> Value {
    let out = trent_audit(w, &["export", "--since", since]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verify(w: &World) -> (bool, String) {
    let out = trent_audit(w, &["verify"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A request nobody signed is recorded, but what it claims is kept only as long as a real
/// claim can be: a stranger cannot make the trail store megabytes a request.
#[tokio::test]
async fn what_a_strangers_request_claims_is_recorded_within_bounds() {
    let w = World::start("", &[]);
    let long = |c: char| c.to_string().repeat(100_000);
    let response = reqwest::Client::new()
        .post(&w.server.url)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("TrentService.{}", long('T')))
        .header("x-amz-date", "20261207T000000Z")
        .header("user-agent", long('U'))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=ROOT/20261207/{}/kms/aws4_request, SignedHeaders=host, Signature=00",
                long('r')
            ),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let records = export(&w, "0")["Records"].as_array().unwrap().clone();
    let refused: Vec<&Value> = records
        .iter()
        .filter(|r| r["errorCode"].is_string())
        .collect();
    assert_eq!(refused.len(), 1, "{records:?}");
    let r = refused[0];
    assert!(r["eventName"].as_str().unwrap().len() <= 128, "{r}");
    assert!(r["awsRegion"].as_str().unwrap().len() <= 128, "{r}");
    assert!(r["userAgent"].as_str().unwrap().len() <= 1024, "{r}");
    assert!(r.to_string().len() < 4096, "{} bytes", r.to_string().len());
}

/// A caller's parameters and error messages are kept only up to CloudTrail's limits: 100 KB of
/// requestParameters (a larger one is `{"omitted": true}`) and 1 KB of errorMessage, so one
/// request cannot make the trail store, and a LookupEvents page return, most of a request body
/// per record.
#[tokio::test]
async fn a_record_keeps_a_callers_parameters_and_messages_within_cloudtrails_limits() {
    let w = World::start("", &[]);
    let kms = w.kms("ROOT");
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    // A body's members are recorded whether the operation reads them or not (an encryption
    // context is bounded well below the limit): 150 KB, then 50 KB, of a member of its own.
    let encrypt = |padding: usize| {
        let body = json!({
            "KeyId": key_id,
            "Plaintext": base64::engine::general_purpose::STANDARD.encode(PLAINTEXT),
            "Padding": "p".repeat(padding),
        });
        let server = &w.server;
        async move {
            let (status, reply) = signed(
                server,
                "ROOT",
                "secret",
                "kms",
                "TrentService.Encrypt",
                &body.to_string(),
            )
            .await;
            assert_eq!(status, 200, "{reply}");
        }
    };
    encrypt(150_000).await;
    encrypt(50_000).await;
    let long_id = format!("alias/{}", "x".repeat(2000));
    let err = kms
        .describe_key()
        .key_id(&long_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "NotFoundException");

    let records: Vec<Value> = by(&w.server, "ROOT", "EventName", "Encrypt")
        .await
        .iter()
        .map(record)
        .collect();
    assert_eq!(records.len(), 2);
    // Newest first.
    assert_eq!(
        records[0]["requestParameters"]["padding"]
            .as_str()
            .map(str::len),
        Some(50_000),
        "a record under the limit is whole"
    );
    assert_eq!(records[1]["requestParameters"], json!({"omitted": true}));
    assert!(records[1].to_string().len() < 4096);
    assert_eq!(records[1]["eventName"], "Encrypt");

    let refused = by(&w.server, "ROOT", "EventName", "DescribeKey").await;
    let r = record(&refused[0]);
    let message = r["errorMessage"].as_str().unwrap();
    assert_eq!(r["errorCode"], "NotFoundException");
    assert!(
        message.len() <= 1024 && message.len() > 1000,
        "{}",
        message.len()
    );
    assert!(long_id.contains(&message[message.find('x').unwrap()..]));
    assert_eq!(
        r["requestParameters"]["keyId"], long_id,
        "the parameters are under the limit and whole"
    );
    assert!(verify(&w).0);
}

/// CloudTrail's event history is per Region: a LookupEvents sees the events of the Region it
/// is called in, by any attribute, while a request refused before it named a Region is seen
/// in every one. `trent audit export` holds them all.
#[tokio::test]
async fn a_lookup_sees_the_events_of_its_region() {
    let w = World::start("", &[]);
    let here = w.kms("ROOT");
    let there = w.server.client_for("eu-west-1", "ROOT", "secret");
    let key_here = here.create_key().send().await.unwrap();
    let key_there = there.create_key().send().await.unwrap();
    there
        .describe_key()
        .key_id(key_there.key_metadata().unwrap().key_id())
        .send()
        .await
        .unwrap();
    // A real access key claimed, but no region: a credential that names no scope.
    let response = reqwest::Client::new()
        .post(&w.server.url)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.ListKeys")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ROOT, SignedHeaders=host, Signature=00",
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let lookup_in = |region: &'static str, request: Value| {
        let server = &w.server;
        async move {
            let (status, page) = signed_in(
                server,
                region,
                "ROOT",
                "secret",
                "cloudtrail",
                LOOKUP,
                &request.to_string(),
            )
            .await;
            assert_eq!(status, 200, "{page}");
            page["Events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["EventName"].as_str().unwrap().to_owned(),
                        record(e)["awsRegion"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let pair = |name: &str, region: &str| (name.to_owned(), region.to_owned());
    let unnamed = pair("ListKeys", "");
    assert_eq!(
        lookup_in(REGION, json!({})).await,
        [unnamed.clone(), pair("CreateKey", REGION)]
    );
    assert_eq!(
        lookup_in("eu-west-1", json!({})).await,
        [
            unnamed.clone(),
            pair("DescribeKey", "eu-west-1"),
            pair("CreateKey", "eu-west-1")
        ]
    );
    let by_name =
        json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}]});
    assert_eq!(
        lookup_in("eu-west-1", by_name.clone()).await,
        [pair("CreateKey", "eu-west-1")]
    );
    assert_eq!(lookup_in("ap-south-1", by_name).await, []);
    let read_only =
        json!({"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "true"}]});
    assert_eq!(lookup_in(REGION, read_only).await, [unnamed]);
    let by_key = |key: &aws_sdk_kms::operation::create_key::CreateKeyOutput| json!({"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": key.key_metadata().unwrap().arn().unwrap()}]});
    assert_eq!(lookup_in(REGION, by_key(&key_there)).await, []);
    assert_eq!(
        lookup_in(REGION, by_key(&key_here)).await,
        [pair("CreateKey", REGION)]
    );
    let exported = export(&w, "0")["Records"].as_array().unwrap().len();
    assert_eq!(exported, 4);
}

/// What a request claims or names may hold a NUL character, which PostgreSQL's text cannot
/// hold: the request is answered and recorded like any other (its record does not fail, nor the
/// records committed with it), the record is found by its other values, and a lookup by such a
/// value finds nothing, on every store.
#[tokio::test]
async fn a_nul_character_in_a_claim_or_a_key_arn_is_recorded_and_breaks_nothing() {
    let w = World::start("", &[]);
    // Unsigned, in Alibaba's form: an operation that does not exist, claimed by a real key.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/?Action=Describe%00Key&AccessKeyId=ROOT&Version=2016-01-20&Format=JSON&RegionId={REGION}",
            w.server.url
        ))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body["Code"].is_string(), "{body}");
    // Signed: a key ARN whose account holds one names no key, answered as another account's
    // missing key is.
    let key_arn = |account: &str| {
        format!("arn:aws:kms:{REGION}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    };
    let describe = |arn: String| {
        let kms = w.kms("ROOT");
        async move { common::code(&kms.describe_key().key_id(arn).send().await.unwrap_err()) }
    };
    let arn = key_arn("11112222333\u{0}");
    assert_eq!(
        describe(arn.clone()).await,
        describe(key_arn("999988887777")).await
    );

    let claimed = by(&w.server, "ROOT", "AccessKeyId", "ROOT").await;
    let names: Vec<&str> = claimed
        .iter()
        .map(|e| e["EventName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Describe\u{0}Key"), "{names:?}");
    assert!(names.contains(&"DescribeKey"), "{names:?}");
    for (attribute, value) in [
        ("EventName", "Describe\u{0}Key"),
        ("ResourceName", arn.as_str()),
        ("AccessKeyId", "ROOT\u{0}"),
        ("ReadOnly", "tr\u{0}ue"),
    ] {
        let (status, page) = lookup(
            &w.server,
            "ROOT",
            json!({"LookupAttributes": [{"AttributeKey": attribute, "AttributeValue": value}]}),
        )
        .await;
        assert_eq!((status, &page["Events"]), (200, &json!([])), "{attribute}");
    }
    assert!(verify(&w).0);
}

#[tokio::test]
async fn the_chain_verifies_and_tampering_is_caught() {
    let mut w = World::start("", &[]);
    let root = w.kms("ROOT");
    let id = common::symmetric_key(&root).await;
    for _ in 0..5 {
        common::encrypt(&root, &id, b"x").await;
    }
    w.kms("OROOT").list_keys().send().await.unwrap();
    assert!(w.server.terminate());
    let (ok, report) = verify(&w);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("account {ACCT}: intact (6 records)")),
        "{report}"
    );
    assert!(
        report.contains(&format!("account {OTHER}: intact (1 records)")),
        "{report}"
    );

    // Edit one record: an Encrypt made to look refused.
    w.sql(&format!(
        "UPDATE audit_events SET body = replace(body, '\"eventName\":\"Encrypt\"', '\"eventName\":\"Decrypt\"') WHERE account = '{ACCT}' AND seq = 3"
    ));
    let (ok, report) = verify(&w);
    assert!(!ok);
    assert!(
        report.contains("BROKEN after 2 good records: record 3"),
        "{report}"
    );

    // Restore it, then remove a record instead.
    w.sql(&format!(
        "UPDATE audit_events SET body = replace(body, '\"eventName\":\"Decrypt\"', '\"eventName\":\"Encrypt\"') WHERE account = '{ACCT}' AND seq = 3"
    ));
    assert!(verify(&w).0);
    w.sql(&format!(
        "DELETE FROM audit_events WHERE account = '{ACCT}' AND seq = 4"
    ));
    let (ok, report) = verify(&w);
    assert!(!ok);
    assert!(report.contains("records 4..4 were removed"), "{report}");
}

#[tokio::test]
async fn a_record_that_cannot_be_stored_fails_the_request() {
    let mut w = World::start("", &[]);
    let root = w.kms("ROOT");
    let id = common::symmetric_key(&root).await;
    assert!(w.server.terminate());
    w.sql(if w.server.database.is_some() {
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$;
         CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit();"
    } else {
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END;"
    });
    w.server.spawn();
    let root = w.kms("ROOT");
    let err = root
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "KMSInternalException");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 500);
    // A change fails with its record: no key appears.
    let err = root.create_key().send().await.unwrap_err();
    assert_eq!(common::code(&err), "KMSInternalException");
    assert!(w.server.terminate());
    assert_eq!(
        w.server.count_rows("keys"),
        1,
        "the refused CreateKey left a key behind"
    );
}

#[tokio::test]
async fn the_json_lines_sink_gets_every_committed_record_and_no_secret() {
    let sink_dir = tempfile::tempdir().unwrap();
    let sink = sink_dir.path().join("audit.jsonl");
    let w = World::start("", &["--audit-log", sink.to_str().unwrap()]);
    let root = w.kms("ROOT");
    let id = common::symmetric_key(&root).await;
    let blob = common::encrypt(&root, &id, PLAINTEXT).await;
    common::decrypts_to(&root, blob.as_ref(), PLAINTEXT).await;
    let text = std::fs::read_to_string(&sink).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["CreateKey", "Encrypt", "Decrypt"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in [
        PLAINTEXT.to_vec(),
        b64.encode(PLAINTEXT).into_bytes(),
        b64.encode(blob.as_ref()).into_bytes(),
    ] {
        assert!(!text
            .as_bytes()
            .windows(secret.len())
            .any(|w| w == secret.as_slice()));
    }
    drop(w);
    let _ = &sink_dir;
}

/// A lookup by an attribute kept in the records' tags (ReadOnly, EventSource, ResourceType)
/// examines at most `audit_lookup_scan` records a call: a rare value's page is short, even
/// empty, with a NextToken, and following the tokens finds every match exactly once.
#[tokio::test]
async fn a_lookup_by_a_tag_examines_a_bounded_number_of_records_a_call() {
    let w = World::start("audit_lookup_scan = 4\n", &[]);
    let root = w.kms("ROOT");
    let id = common::symmetric_key(&root).await;
    for _ in 0..10 {
        common::encrypt(&root, &id, b"x").await;
    }
    let writes =
        json!({"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]});
    let (status, first) = lookup(&w.server, "ROOT", writes.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["Events"],
        json!([]),
        "the newest four records are Encrypts"
    );
    assert!(first["NextToken"].is_string(), "{first}");
    let found = lookup_all(&w.server, "ROOT", writes).await;
    assert_eq!(named(&found, "CreateKey").len(), 1, "{found:?}");
    assert!(found.iter().all(|e| e["ReadOnly"] == "false"), "{found:?}");
    // The reads page four records a call too, each record once.
    let reads = by(&w.server, "ROOT", "ReadOnly", "true").await;
    assert_eq!(named(&reads, "Encrypt").len(), 10);
    let ids: std::collections::HashSet<_> =
        reads.iter().map(|e| e["EventId"].to_string()).collect();
    assert_eq!(ids.len(), reads.len(), "no record twice");
    // An indexed attribute is not bounded: one page holds every match.
    let arn = record(named(&found, "CreateKey")[0])["resources"][0]["ARN"].clone();
    let (_, page) = lookup(
        &w.server,
        "ROOT",
        json!({"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": arn}]}),
    )
    .await;
    assert_eq!(page["Events"].as_array().unwrap().len(), 11, "{page}");
    assert!(page.get("NextToken").is_none(), "{page}");
}

#[tokio::test]
async fn the_trail_can_be_turned_off() {
    for (config, args) in [("audit = false\n", &[][..]), ("", &["--no-audit"][..])] {
        let w = World::start(config, args);
        let root = w.kms("ROOT");
        let id = common::symmetric_key(&root).await;
        common::encrypt(&root, &id, b"x").await;
        assert!(lookup_all(&w.server, "ROOT", json!({})).await.is_empty());
        let _ = &w.dir;
    }
}

/// ReplicateKey and UpdatePrimaryRegion are recorded like every other change, with the key
/// they name (the primary) as their resource.
#[tokio::test]
async fn multi_region_operations_are_recorded() {
    let w = World::start("", &[]);
    let root = w.kms("ROOT");
    let meta = root
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let id = meta.key_id().to_owned();
    let arn = meta.arn().unwrap().to_owned();
    root.replicate_key()
        .key_id(&id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    root.update_primary_region()
        .key_id(&id)
        .primary_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let events = by(&w.server, "ROOT", "ResourceName", &arn).await;
    for name in ["CreateKey", "ReplicateKey", "UpdatePrimaryRegion"] {
        let found = named(&events, name);
        assert_eq!(found.len(), 1, "{name}: {events:?}");
        let rec = record(found[0]);
        assert_eq!(rec["eventName"], name);
    }
    let replicated = record(named(&events, "ReplicateKey")[0]);
    assert_eq!(
        replicated["requestParameters"]["replicaRegion"],
        "eu-west-1"
    );
}

/// A call another account makes with a key succeeds into both accounts' trails: each copy its
/// own eventID and recipientAccountId, both one sharedEventID, each in its account's chain. A
/// refused call stays in the caller's trail alone, as CloudTrail delivers them.
#[tokio::test]
async fn another_accounts_use_of_a_key_is_in_the_owners_trail_too() {
    let w = World::start("", &[]);
    let (root, oroot) = (w.kms("ROOT"), w.kms("OROOT"));
    let id = common::symmetric_key(&root).await;
    let arn = format!("arn:aws:kms:{REGION}:{ACCT}:key/{id}");
    let shared = common::symmetric_key(&root).await;
    let shared_arn = format!("arn:aws:kms:{REGION}:{ACCT}:key/{shared}");
    root.put_key_policy()
        .key_id(&shared)
        .policy(format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:*","Resource":"*"}},
              {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},"Action":["kms:Encrypt","kms:Decrypt","kms:CreateGrant"],"Resource":"*"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let blob = common::encrypt(&oroot, &shared_arn, "x").await;
    oroot
        .decrypt()
        .key_id(&shared_arn)
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap();
    // A change too: the grant and both records commit together.
    oroot
        .create_grant()
        .key_id(&shared_arn)
        .grantee_principal(format!("arn:aws:iam::{OTHER}:root"))
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    // Refused: the default policy does not name the other account.
    assert!(common::encrypt_request(&oroot, &arn, "x")
        .send()
        .await
        .is_err());
    // Naming a key is not using it: a member the operation ignores sends no copy anywhere.
    let (status, _) = signed(
        &w.server,
        "OROOT",
        "secret",
        "kms",
        "TrentService.GenerateRandom",
        &json!({"NumberOfBytes": 8, "KeyId": shared_arn}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(by(&w.server, "ROOT", "EventName", "GenerateRandom")
        .await
        .is_empty());

    for name in ["Encrypt", "Decrypt", "CreateGrant"] {
        let owners = by(&w.server, "ROOT", "ResourceName", &shared_arn).await;
        let callers = by(&w.server, "OROOT", "ResourceName", &shared_arn).await;
        let (owner, caller) = (named(&owners, name), named(&callers, name));
        assert_eq!((owner.len(), caller.len()), (1, 1), "{name}");
        let (owner, caller) = (record(owner[0]), record(caller[0]));
        assert_eq!(owner["recipientAccountId"], ACCT);
        assert_eq!(caller["recipientAccountId"], OTHER);
        assert_eq!(owner["userIdentity"]["accountId"], OTHER);
        assert_ne!(owner["eventID"], caller["eventID"]);
        assert!(owner["sharedEventID"].is_string(), "{owner}");
        assert_eq!(owner["sharedEventID"], caller["sharedEventID"]);
        assert_eq!(owner["requestID"], caller["requestID"]);
    }
    // The owner's own calls carry no sharedEventID.
    let own = by(&w.server, "ROOT", "EventName", "PutKeyPolicy").await;
    assert!(record(&own[0]).get("sharedEventID").is_none());
    // The refusal is the caller's alone.
    assert!(by(&w.server, "ROOT", "ResourceName", &arn)
        .await
        .iter()
        .all(|e| record(e)["userIdentity"]["accountId"] == ACCT));
    let refused = by(&w.server, "OROOT", "ResourceName", &arn).await;
    assert_eq!(record(&refused[0])["errorCode"], "AccessDeniedException");
    // Both chains hold and verify.
    let (intact, report) = verify(&w);
    assert!(intact, "{report}");
}
