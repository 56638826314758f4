//! The Alibaba Cloud dialect through the real binary: requests signed exactly as Alibaba's SDKs
//! sign them (ACS3-HMAC-SHA256 as `alibabacloud-kms20160120` does by default, HMAC-SHA1 RPC as
//! `aliyun-python-sdk-kms` does), with a signer written here independently of the server's
//! verifier. Covers every cell of the seed document's tables for the operations served, the
//! UpdateAlias special case, Alibaba's CancelKeyDeletion → Enabled, one engine behind both
//! dialects, and authentication failing closed.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{byok, Server, ACCOUNT};
use serde_json::Value;
use trent_core::KeyState;

const REGION: &str = "cn-hangzhou";

/// RFC 3986 encoding as both Alibaba signatures use it.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data).as_ref())
}

fn timestamp(t: SystemTime) -> String {
    trent_aliyun::time::format(t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scheme {
    /// `alibabacloud-kms20160120`'s default.
    Acs3,
    /// The legacy SDK's HMAC-SHA1 RPC signature (it also sends RegionId and an empty SignatureType).
    Rpc,
}

/// A reply: HTTP status and JSON body.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("<success>")
    }

    fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{:?}", self.body);
        assert!(self.body["RequestId"].is_string());
        self.body
    }

    fn expect(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{:?}",
            self.body
        );
        if status != 200 {
            for field in ["RequestId", "HostId", "Message", "Recommend"] {
                assert!(
                    self.body[field].is_string(),
                    "{field} missing: {:?}",
                    self.body
                );
            }
        }
    }
}

/// An Alibaba client for one access key.
struct Ali {
    url: String,
    host: String,
    access_key: String,
    secret: String,
    scheme: Scheme,
}

/// A request ready to send (kept whole so a test can send it twice).
struct Prepared {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
}

impl Ali {
    fn new(server: &Server, scheme: Scheme) -> Self {
        Self::with_key(server, scheme, "test", "test")
    }

    fn with_key(server: &Server, scheme: Scheme, access_key: &str, secret: &str) -> Self {
        Self {
            url: server.url.clone(),
            host: server.url.trim_start_matches("http://").to_owned(),
            access_key: access_key.into(),
            secret: secret.into(),
            scheme,
        }
    }

    fn prepare(&self, action: &str, params: &[(&str, &str)], at: SystemTime) -> Prepared {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        match self.scheme {
            Scheme::Acs3 => self.acs3(action, params, at, &nonce),
            Scheme::Rpc => self.rpc("POST", action, params, at, &nonce),
        }
    }

    fn acs3(&self, action: &str, params: &[(&str, &str)], at: SystemTime, nonce: &str) -> Prepared {
        let mut query: Vec<(String, String)> =
            params.iter().map(|(k, v)| (enc(k), enc(v))).collect();
        query.sort();
        let query = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers = vec![
            ("accept".to_owned(), "application/json".to_owned()),
            ("host".to_owned(), self.host.clone()),
            ("x-acs-action".to_owned(), action.to_owned()),
            ("x-acs-content-sha256".to_owned(), sha256_hex(b"")),
            ("x-acs-date".to_owned(), timestamp(at)),
            ("x-acs-signature-nonce".to_owned(), nonce.to_owned()),
            ("x-acs-version".to_owned(), "2016-01-20".to_owned()),
        ];
        let signed = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "POST\n/\n{query}\n{canonical_headers}\n{signed}\n{}",
            sha256_hex(b"")
        );
        let sts = format!("ACS3-HMAC-SHA256\n{}", sha256_hex(canonical.as_bytes()));
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.secret.as_bytes());
        let signature = hex::encode(hmac::sign(&key, sts.as_bytes()).as_ref());
        headers.push((
            "authorization".to_owned(),
            format!(
                "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={signature}",
                self.access_key
            ),
        ));
        headers.retain(|(k, _)| k != "host");
        Prepared {
            method: reqwest::Method::POST,
            url: format!("{}/?{query}", self.url),
            headers,
        }
    }

    fn rpc(
        &self,
        method: &str,
        action: &str,
        params: &[(&str, &str)],
        at: SystemTime,
        nonce: &str,
    ) -> Prepared {
        let ts = timestamp(at);
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.extend([
            ("Action", action),
            ("Version", "2016-01-20"),
            ("Format", "JSON"),
            ("RegionId", REGION),
            ("AccessKeyId", self.access_key.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureType", ""),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce),
            ("Timestamp", ts.as_str()),
        ]);
        all.sort();
        let canonical = all
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let sts = format!("{method}&%2F&{}", enc(&canonical));
        let key = hmac::Key::new(
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            format!("{}&", self.secret).as_bytes(),
        );
        let signature = B64.encode(hmac::sign(&key, sts.as_bytes()).as_ref());
        Prepared {
            method: method.parse().unwrap(),
            url: format!("{}/?{canonical}&Signature={}", self.url, enc(&signature)),
            headers: vec![("x-acs-action".to_owned(), action.to_owned())],
        }
    }

    async fn send(&self, p: &Prepared) -> Reply {
        let mut rb = reqwest::Client::new().request(p.method.clone(), &p.url);
        for (k, v) in &p.headers {
            rb = rb.header(k, v);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(content_type, "application/json;charset=utf-8");
        let body = resp.json().await.unwrap();
        Reply { status, body }
    }

    async fn call(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        self.send(&self.prepare(action, params, SystemTime::now()))
            .await
    }

    async fn create_key(&self, params: &[(&str, &str)]) -> String {
        let body = self.call("CreateKey", params).await.ok();
        body["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }

    /// Decrypts the `CiphertextBlob` an earlier reply carried.
    async fn decrypt(&self, ciphertext: &Value) -> Reply {
        let blob = ciphertext["CiphertextBlob"].as_str().unwrap();
        self.call("Decrypt", &[("CiphertextBlob", blob)]).await
    }

    async fn state(&self, key: &str) -> String {
        let body = self.call("DescribeKey", &[("KeyId", key)]).await.ok();
        body["KeyMetadata"]["KeyState"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn sdk_shaped_requests_manage_and_use_keys() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let created = ali
        .call(
            "CreateKey",
            &[
                ("Description", "capture test key ~*!'() /+&=中文"),
                ("EnableAutomaticRotation", "False"),
                ("KeySpec", "Aliyun_AES_256"),
                ("KeyUsage", "ENCRYPT/DECRYPT"),
                ("Tags", r#"[{"TagKey":"env","TagValue":"test"}]"#),
            ],
        )
        .await
        .ok();
    let meta = &created["KeyMetadata"];
    let key = meta["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(meta["Arn"], format!("acs:kms:{REGION}:{ACCOUNT}:key/{key}"));
    assert_eq!(meta["KeyState"], "Enabled");
    assert_eq!(meta["KeySpec"], "Aliyun_AES_256");
    assert_eq!(meta["KeyUsage"], "ENCRYPT/DECRYPT");
    assert_eq!(meta["Origin"], "Aliyun_KMS");
    assert_eq!(meta["ProtectionLevel"], "SOFTWARE");
    assert_eq!(meta["Creator"], ACCOUNT);
    assert_eq!(meta["DeleteDate"], "");
    assert_eq!(meta["Description"], "capture test key ~*!'() /+&=中文");
    let created_at = meta["CreationDate"].as_str().unwrap();
    assert!(
        trent_aliyun::time::parse(created_at).is_some(),
        "{created_at}"
    );
    let primary = meta["PrimaryKeyVersion"].as_str().unwrap().to_owned();

    // Encrypt / Decrypt, the context compared as a map (Tea sends compact JSON, a hand-built
    // legacy call may not).
    let enc = ali
        .call(
            "Encrypt",
            &[
                ("KeyId", &key),
                ("Plaintext", "aGVsbG8gd29ybGQ="),
                ("EncryptionContext", r#"{"purpose":"capture","n":"1"}"#),
            ],
        )
        .await
        .ok();
    assert_eq!(enc["KeyId"], key.as_str());
    assert_eq!(enc["KeyVersionId"], primary.as_str());
    let blob = enc["CiphertextBlob"].as_str().unwrap().to_owned();
    let dec = ali
        .call(
            "Decrypt",
            &[
                ("CiphertextBlob", &blob),
                ("EncryptionContext", r#"{"n": "1", "purpose": "capture"}"#),
            ],
        )
        .await
        .ok();
    assert_eq!(dec["Plaintext"], "aGVsbG8gd29ybGQ=");
    assert_eq!(dec["KeyVersionId"], primary.as_str());
    ali.call("Decrypt", &[("CiphertextBlob", &blob)])
        .await
        .expect(400, "InvalidParameter");

    // Data keys: the plaintext Decrypt returns is the data key GenerateDataKey returned.
    let dk = ali
        .call(
            "GenerateDataKey",
            &[("KeyId", &key), ("KeySpec", "AES_128")],
        )
        .await
        .ok();
    assert_eq!(
        B64.decode(dk["Plaintext"].as_str().unwrap()).unwrap().len(),
        16
    );
    let dec = ali.decrypt(&dk).await.ok();
    assert_eq!(dec["Plaintext"], dk["Plaintext"]);
    let dk = ali
        .call(
            "GenerateDataKeyWithoutPlaintext",
            &[("KeyId", &key), ("NumberOfBytes", "7")],
        )
        .await
        .ok();
    assert!(dk.get("Plaintext").is_none());

    // ReEncrypt to a second key.
    let other = ali.create_key(&[]).await;
    let re = ali
        .call(
            "ReEncrypt",
            &[
                ("CiphertextBlob", &blob),
                ("DestinationKeyId", &other),
                (
                    "SourceEncryptionContext",
                    r#"{"purpose":"capture","n":"1"}"#,
                ),
            ],
        )
        .await
        .ok();
    assert_eq!(re["KeyId"], other.as_str());
    let dec = ali.decrypt(&re).await.ok();
    assert_eq!(dec["Plaintext"], "aGVsbG8gd29ybGQ=");

    // Key versions.
    let versions = ali.call("ListKeyVersions", &[("KeyId", &key)]).await.ok();
    assert_eq!(versions["TotalCount"], 1);
    assert_eq!(
        versions["KeyVersions"]["KeyVersion"][0]["KeyVersionId"],
        primary.as_str()
    );
    let v = ali
        .call(
            "DescribeKeyVersion",
            &[("KeyId", &key), ("KeyVersionId", &primary)],
        )
        .await
        .ok();
    assert_eq!(v["KeyVersion"]["KeyId"], key.as_str());
    ali.call(
        "DescribeKeyVersion",
        &[
            ("KeyId", &key),
            ("KeyVersionId", "00000000-0000-0000-0000-000000000000"),
        ],
    )
    .await
    .expect(404, "Forbidden.KeyVersionNotFound");

    // Aliases, usable as KeyId; Alibaba's ARNs too.
    ali.call(
        "CreateAlias",
        &[("AliasName", "alias/app"), ("KeyId", &key)],
    )
    .await
    .ok();
    ali.call(
        "CreateAlias",
        &[("AliasName", "alias/app"), ("KeyId", &key)],
    )
    .await
    .expect(400, "AliasAlreadyExists");
    ali.call(
        "CreateAlias",
        &[("AliasName", "alias/acs/kms"), ("KeyId", &key)],
    )
    .await
    .expect(400, "InvalidParameter");
    ali.call("Encrypt", &[("KeyId", "alias/app"), ("Plaintext", "aGk=")])
        .await
        .ok();
    let arn = format!("acs:kms:{REGION}:{ACCOUNT}:key/{key}");
    assert_eq!(ali.state(&arn).await, "Enabled");
    ali.call(
        "DescribeKey",
        &[("KeyId", &format!("acs:kms:{REGION}:{ACCOUNT}:alias/app"))],
    )
    .await
    .ok();
    let by_key = ali
        .call("ListAliasesByKeyId", &[("KeyId", &key)])
        .await
        .ok();
    assert_eq!(by_key["Aliases"]["Alias"][0]["AliasName"], "alias/app");
    assert_eq!(
        by_key["Aliases"]["Alias"][0]["AliasArn"],
        format!("acs:kms:{REGION}:{ACCOUNT}:alias/app")
    );
    ali.call(
        "UpdateAlias",
        &[("AliasName", "alias/app"), ("KeyId", &other)],
    )
    .await
    .ok();
    let all = ali.call("ListAliases", &[]).await.ok();
    assert_eq!(all["Aliases"]["Alias"][0]["KeyId"], other.as_str());
    ali.call("DeleteAlias", &[("AliasName", "alias/app")])
        .await
        .ok();
    ali.call("DeleteAlias", &[("AliasName", "alias/app")])
        .await
        .expect(404, "Forbidden.AliasNotFound");

    // Tags in Alibaba's shapes.
    ali.call(
        "TagResource",
        &[
            ("KeyId", &key),
            ("Tags", r#"[{"TagKey":"team","TagValue":"core"}]"#),
        ],
    )
    .await
    .ok();
    let tags = ali.call("ListResourceTags", &[("KeyId", &key)]).await.ok();
    let list = tags["Tags"]["Tag"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["KeyId"], key.as_str());
    ali.call(
        "UntagResource",
        &[("KeyId", &key), ("TagKeys", r#"["env","team"]"#)],
    )
    .await
    .ok();
    let tags = ali.call("ListResourceTags", &[("KeyId", &key)]).await.ok();
    assert_eq!(tags["Tags"]["Tag"].as_array().unwrap().len(), 0);

    // ListKeys pages by number and reports the total.
    for _ in 0..3 {
        ali.create_key(&[]).await;
    }
    let page = ali
        .call("ListKeys", &[("PageNumber", "2"), ("PageSize", "2")])
        .await
        .ok();
    assert_eq!(page["TotalCount"], 5);
    assert_eq!(page["PageNumber"], 2);
    assert_eq!(page["Keys"]["Key"].as_array().unwrap().len(), 2);
    assert!(page["Keys"]["Key"][0]["KeyArn"]
        .as_str()
        .unwrap()
        .starts_with("acs:kms:"));

    // Key policies: Alibaba's default, replaced and read back.
    let policy = ali.call("GetKeyPolicy", &[("KeyId", &key)]).await.ok();
    let doc: Value = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        doc["Statement"][0]["Principal"]["RAM"][0],
        format!("acs:ram::{ACCOUNT}:*")
    );
    let mine = r#"{"Version":"1","Statement":[]}"#;
    ali.call(
        "SetKeyPolicy",
        &[("KeyId", &key), ("PolicyName", "default"), ("Policy", mine)],
    )
    .await
    .ok();
    assert_eq!(
        ali.call(
            "GetKeyPolicy",
            &[("KeyId", &key), ("PolicyName", "default")]
        )
        .await
        .ok()["Policy"],
        mine
    );
    ali.call("GetKeyPolicy", &[("KeyId", &key), ("PolicyName", "other")])
        .await
        .expect(400, "InvalidParameter");
    // A document in AWS's grammar is enforced whichever dialect stores it, so it is checked
    // as AWS checks it: one that would lock the caller out is refused here too, on SetKeyPolicy
    // and on CreateKey, and so is one over 32 KB.
    let deny_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
    ali.call(
        "SetKeyPolicy",
        &[
            ("KeyId", &key),
            ("PolicyName", "default"),
            ("Policy", deny_all),
        ],
    )
    .await
    .expect(400, "InvalidParameter");
    ali.call("CreateKey", &[("Policy", deny_all)])
        .await
        .expect(400, "InvalidParameter");
    let huge = format!(
        r#"{{"Version":"1","Statement":[],"Pad":"{}"}}"#,
        "x".repeat(33_000)
    );
    ali.call(
        "SetKeyPolicy",
        &[
            ("KeyId", &key),
            ("PolicyName", "default"),
            ("Policy", &huge),
        ],
    )
    .await
    .expect(400, "InvalidParameter");
    ali.call("CreateKey", &[("Policy", &huge)])
        .await
        .expect(400, "InvalidParameter");
    assert_eq!(
        ali.call("GetKeyPolicy", &[("KeyId", &key)]).await.ok()["Policy"],
        mine
    );

    // Filters: AND across keys, OR within values.
    ali.call("DisableKey", &[("KeyId", &other)]).await.ok();
    let filtered = ali
        .call(
            "ListKeys",
            &[("Filters", r#"[{"Key":"KeyState","Values":["Disabled","PendingDeletion"]},{"Key":"KeySpec","Values":["Aliyun_AES_256"]}]"#)],
        )
        .await
        .ok();
    assert_eq!(filtered["TotalCount"], 1);
    assert_eq!(filtered["Keys"]["Key"][0]["KeyId"], other.as_str());
    ali.call(
        "ListKeys",
        &[("Filters", r#"[{"Key":"Colour","Values":["Blue"]}]"#)],
    )
    .await
    .expect(400, "InvalidParameter");

    // Description, deletion window bounds.
    ali.call(
        "UpdateKeyDescription",
        &[("KeyId", &key), ("Description", "new")],
    )
    .await
    .ok();
    ali.call(
        "ScheduleKeyDeletion",
        &[("KeyId", &key), ("PendingWindowInDays", "6")],
    )
    .await
    .expect(400, "InvalidParameter");
    ali.call("ScheduleKeyDeletion", &[("KeyId", &key)])
        .await
        .expect(400, "MissingParameter");
    ali.call(
        "ScheduleKeyDeletion",
        &[("KeyId", &key), ("PendingWindowInDays", "366")],
    )
    .await
    .ok();
    let described = ali.call("DescribeKey", &[("KeyId", &key)]).await.ok();
    let delete_at =
        trent_aliyun::time::parse(described["KeyMetadata"]["DeleteDate"].as_str().unwrap())
            .unwrap();
    let created_at = trent_aliyun::time::parse(created_at).unwrap();
    assert!((delete_at - created_at - 366 * 86_400).abs() < 300);

    // Missing keys: Alibaba's 404 in Alibaba's shape.
    let r = ali
        .call("DescribeKey", &[("KeyId", "key-doesnotexist")])
        .await;
    r.expect(404, "Forbidden.KeyNotFound");
    assert_eq!(r.body["HostId"], server.url.trim_start_matches("http://"));
    ali.call("DescribeKey", &[])
        .await
        .expect(400, "MissingParameter");
}

#[tokio::test]
async fn legacy_rpc_signatures_work_over_post_and_get() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Rpc);
    let key = ali.create_key(&[("Description", "legacy * ~ 中")]).await;
    let enc = ali
        .call(
            "Encrypt",
            &[
                ("KeyId", &key),
                ("Plaintext", "aGk="),
                ("EncryptionContext", r#"{"purpose": "capture"}"#),
            ],
        )
        .await
        .ok();
    let dec = ali
        .call(
            "Decrypt",
            &[
                ("CiphertextBlob", enc["CiphertextBlob"].as_str().unwrap()),
                ("EncryptionContext", r#"{"purpose":"capture"}"#),
            ],
        )
        .await
        .ok();
    assert_eq!(dec["Plaintext"], "aGk=");
    // RPC-style GET is allowed by the protocol.
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let get = ali.rpc(
        "GET",
        "DescribeKey",
        &[("KeyId", &key)],
        SystemTime::now(),
        &nonce,
    );
    let r = ali.send(&get).await.ok();
    assert_eq!(
        r["KeyMetadata"]["Arn"],
        format!("acs:kms:{REGION}:{ACCOUNT}:key/{key}")
    );
    // Both signature schemes reach the same keys.
    assert_eq!(Ali::new(&server, Scheme::Acs3).state(&key).await, "Enabled");
}

#[tokio::test]
async fn authentication_fails_closed() {
    let server = Server::start();
    for scheme in [Scheme::Acs3, Scheme::Rpc] {
        let ali = Ali::new(&server, scheme);
        let key = ali.create_key(&[]).await;

        let wrong_secret = Ali::with_key(&server, scheme, "test", "wrong");
        wrong_secret
            .call("DescribeKey", &[("KeyId", &key)])
            .await
            .expect(400, "SignatureDoesNotMatch");
        let unknown = Ali::with_key(&server, scheme, "nobody", "test");
        unknown
            .call("DescribeKey", &[("KeyId", &key)])
            .await
            .expect(404, "InvalidAccessKeyId.NotFound");

        for skew in [Duration::from_secs(20 * 60)] {
            let stale = ali.prepare("DescribeKey", &[("KeyId", &key)], SystemTime::now() - skew);
            ali.send(&stale)
                .await
                .expect(400, "InvalidTimeStamp.Expired");
            let future = ali.prepare("DescribeKey", &[("KeyId", &key)], SystemTime::now() + skew);
            ali.send(&future)
                .await
                .expect(400, "InvalidTimeStamp.Expired");
        }

        // A replayed request (same nonce, same signature) is refused the second time, even
        // for a read.
        let once = ali.prepare("DisableKey", &[("KeyId", &key)], SystemTime::now());
        ali.send(&once).await.ok();
        ali.send(&once).await.expect(400, "SignatureNonceUsed");

        ali.call("NoSuchAction", &[])
            .await
            .expect(404, "InvalidApi.NotFound");
        ali.call("GetRandomPassword", &[])
            .await
            .expect(400, "Rejected.UnsupportedOperation");
    }

    // Tampering after signing: the query no longer matches the signature.
    let ali = Ali::new(&server, Scheme::Acs3);
    let mut p = ali.prepare("DescribeKey", &[("KeyId", "a")], SystemTime::now());
    p.url = p.url.replace("KeyId=a", "KeyId=b");
    ali.send(&p).await.expect(400, "SignatureDoesNotMatch");

    // No signature at all.
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/?Action=ListKeys&Version=2016-01-20",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Code"], "IncompleteSignature");
}

// ----- the seed document's tables ----------------------------------------------------------------

const STATES: [KeyState; 4] = [
    KeyState::Enabled,
    KeyState::Disabled,
    KeyState::PendingDeletion,
    KeyState::PendingImport,
];

/// Nodes that share a PostgreSQL database share the nonces they admitted: a request answered by
/// one node is refused by every other (each node's memory only knows its own requests). Needs
/// PostgreSQL (see `trent_store::postgres::testing`).
#[tokio::test]
async fn a_request_answered_by_one_node_is_refused_as_a_replay_by_another() {
    const ROOT_KEY: &str = "8f3e0c2b9a1d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdde";
    let db = std::sync::Arc::new(common::TestDatabase::create());
    let a = Server::node(&db, ROOT_KEY, &[]);
    let b = Server::node(&db, ROOT_KEY, &[]);
    // The legacy RPC signature does not cover the host, so one request can go to either node.
    let on_a = Ali::new(&a, Scheme::Rpc);
    let key = on_a.create_key(&[]).await;
    let once = on_a.prepare("DescribeKey", &[("KeyId", &key)], SystemTime::now());
    on_a.send(&once).await.ok();
    let to_b = Prepared {
        url: once.url.replacen(&a.url, &b.url, 1),
        ..once
    };
    let on_b = Ali::new(&b, Scheme::Rpc);
    on_b.send(&to_b).await.expect(400, "SignatureNonceUsed");
    // A request of its own is answered by B, and replayed to A it is refused there.
    let fresh = on_b.prepare("DescribeKey", &[("KeyId", &key)], SystemTime::now());
    on_b.send(&fresh).await.ok();
    let to_a = Prepared {
        url: fresh.url.replacen(&b.url, &a.url, 1),
        ..fresh
    };
    on_a.send(&to_a).await.expect(400, "SignatureNonceUsed");
}

/// Moves a key (Enabled, or PendingImport when it has no material) on to `state` through
/// Alibaba's API, and checks it got there.
async fn move_to(ali: &Ali, id: &str, state: KeyState) {
    match state {
        KeyState::Disabled => {
            ali.call("DisableKey", &[("KeyId", id)]).await.ok();
        }
        KeyState::PendingDeletion => {
            ali.call(
                "ScheduleKeyDeletion",
                &[("KeyId", id), ("PendingWindowInDays", "7")],
            )
            .await
            .ok();
        }
        KeyState::Enabled | KeyState::PendingImport => {}
        // AWS's multi-Region state: not one of STATES (Alibaba has no multi-Region keys).
        KeyState::PendingReplicaDeletion => unreachable!("not an Alibaba state"),
    }
    assert_eq!(ali.state(id).await, state.as_str());
}

/// A key in the wanted state with an alias made while it could still get one, and a ciphertext
/// naming it (made while enabled; for a BYOK key that never had material, a well-formed blob
/// naming it, which reaches the state check before any decryption).
struct Fixture {
    id: String,
    alias: String,
    blob: String,
}

async fn key_in(ali: &Ali, state: KeyState, n: &mut usize) -> Fixture {
    *n += 1;
    let external = state == KeyState::PendingImport;
    let id = if external {
        ali.create_key(&[("Origin", "EXTERNAL")]).await
    } else {
        ali.create_key(&[]).await
    };
    let alias = format!("alias/fixture-{n}");
    ali.call("CreateAlias", &[("AliasName", &alias), ("KeyId", &id)])
        .await
        .ok();
    let blob = if external {
        let mut b = trent_core::blob::header(&trent_core::KeyId::parse(&id).unwrap(), 1).to_vec();
        b.extend_from_slice(&[0u8; 40]);
        B64.encode(b)
    } else {
        let r = ali
            .call("Encrypt", &[("KeyId", &id), ("Plaintext", "Zml4dHVyZQ==")])
            .await
            .ok();
        r["CiphertextBlob"].as_str().unwrap().to_owned()
    };
    move_to(ali, &id, state).await;
    Fixture { id, alias, blob }
}

/// `Success` or the document's `Rejected.*` result for one operation, by column.
type Row = (&'static str, [&'static str; 4]);

const S: &str = "Success";
const DIS: &str = "Rejected.Disabled";
const PD: &str = "Rejected.PendingDeletion";
const PI: &str = "Rejected.PendingImport";
const SMF: &str = "Rejected.StateModifiedFailed";

/// The seed document's "Common API operations" table (columns Enabled, Disabled,
/// PendingDeletion, PendingImport). The BYOK table is walked by its own test below.
const TABLE: &[Row] = &[
    ("GenerateDataKey", [S, DIS, PD, PI]),
    ("GenerateDataKeyWithoutPlaintext", [S, DIS, PD, PI]),
    ("Encrypt", [S, DIS, PD, PI]),
    ("Decrypt", [S, DIS, PD, PI]),
    ("UpdateRotationPolicy", [S, DIS, PD, PI]),
    ("UpdateKeyDescription", [S, S, PD, S]),
    ("TagResource", [S, S, PD, S]),
    ("UntagResource", [S, S, PD, S]),
    ("EnableKey", [S, S, SMF, SMF]),
    ("DisableKey", [S, S, SMF, SMF]),
    ("ScheduleKeyDeletion", [S, S, SMF, S]),
    ("CancelKeyDeletion", [SMF, SMF, S, SMF]),
    ("CreateAlias", [S, S, SMF, S]),
    ("DeleteAlias", [S, S, S, S]),
    ("ListAliases", [S, S, S, S]),
    ("ListKeys", [S, S, S, S]),
    ("DescribeKey", [S, S, S, S]),
    ("ListResourceTags", [S, S, S, S]),
    ("DescribeKeyVersion", [S, S, S, S]),
    ("ListKeyVersions", [S, S, S, S]),
    ("CreateKey", [S, S, S, S]),
    // Special case: the destination key's state alone decides.
    ("UpdateAlias", [S, S, PD, S]),
    // Not in the seed document: its API page refuses a key pending deletion.
    ("SetDeletionProtection", [S, S, PD, S]),
];

/// Asserts one cell of a state table: `Success` is HTTP 200, a `Rejected.*` code HTTP 409.
fn assert_cell(op: &str, state: &KeyState, expected: &str, reply: &Reply) {
    let (status, code) = if expected == S {
        (200, "<success>")
    } else {
        (409, expected)
    };
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "{op} on a {state:?} key: {:?}",
        reply.body
    );
}

#[tokio::test]
async fn every_cell_of_the_seed_document_holds() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let mut n = 0;
    // UpdateAlias moves an alias that points at an enabled source.
    let source = ali.create_key(&[]).await;
    for (op, cells) in TABLE {
        for (state, expected) in STATES.iter().zip(cells) {
            let k = key_in(&ali, *state, &mut n).await;
            let version = ali.call("ListKeyVersions", &[("KeyId", &k.id)]).await.ok()
                ["KeyVersions"]["KeyVersion"][0]["KeyVersionId"]
                .as_str()
                .unwrap()
                .to_owned();
            let moving_alias = format!("alias/moving-{n}");
            ali.call(
                "CreateAlias",
                &[("AliasName", &moving_alias), ("KeyId", &source)],
            )
            .await
            .ok();
            let new_alias = format!("alias/new-{n}");
            let id = k.id.as_str();
            let params: Vec<(&str, &str)> = match *op {
                "GenerateDataKey"
                | "GenerateDataKeyWithoutPlaintext"
                | "DescribeKey"
                | "ListResourceTags"
                | "ListKeyVersions"
                | "EnableKey"
                | "DisableKey"
                | "CancelKeyDeletion" => vec![("KeyId", id)],
                "Encrypt" => vec![("KeyId", id), ("Plaintext", "aGk=")],
                "Decrypt" => vec![("CiphertextBlob", &k.blob)],
                "UpdateKeyDescription" => vec![("KeyId", id), ("Description", "d")],
                "UpdateRotationPolicy" => vec![
                    ("KeyId", id),
                    ("EnableAutomaticRotation", "true"),
                    ("RotationInterval", "7d"),
                ],
                "TagResource" => vec![
                    ("KeyId", id),
                    ("Tags", r#"[{"TagKey":"k","TagValue":"v"}]"#),
                ],
                "UntagResource" => vec![("KeyId", id), ("TagKeys", r#"["k"]"#)],
                "ScheduleKeyDeletion" => vec![("KeyId", id), ("PendingWindowInDays", "7")],
                "CreateAlias" => vec![("AliasName", &new_alias), ("KeyId", id)],
                "DeleteAlias" => vec![("AliasName", &k.alias)],
                "ListAliases" | "ListKeys" | "CreateKey" => vec![],
                "DescribeKeyVersion" => vec![("KeyId", id), ("KeyVersionId", &version)],
                "UpdateAlias" => vec![("AliasName", &moving_alias), ("KeyId", id)],
                "SetDeletionProtection" => {
                    vec![("KeyId", id), ("EnableDeletionProtection", "true")]
                }
                other => panic!("no request for {other}"),
            };
            let reply = ali.call(op, &params).await;
            assert_cell(op, state, expected, &reply);
        }
    }
}

#[tokio::test]
async fn update_alias_ignores_the_source_key_state() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let mut n = 0;
    let destination = ali.create_key(&[]).await;
    for state in STATES {
        let source = key_in(&ali, state, &mut n).await;
        ali.call(
            "UpdateAlias",
            &[("AliasName", &source.alias), ("KeyId", &destination)],
        )
        .await
        .ok();
    }
}

#[tokio::test]
async fn cancel_key_deletion_returns_the_key_to_enabled_in_alibabas_dialect() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let mut n = 0;
    let k = key_in(&ali, KeyState::PendingDeletion, &mut n).await;
    ali.call("CancelKeyDeletion", &[("KeyId", &k.id)])
        .await
        .ok();
    assert_eq!(ali.state(&k.id).await, "Enabled");
    assert_eq!(
        ali.call("DescribeKey", &[("KeyId", &k.id)]).await.ok()["KeyMetadata"]["DeleteDate"],
        ""
    );
    // The same engine answers AWS callers with AWS's rule.
    let aws = server.client_for(REGION, "test", "test");
    ali.call(
        "ScheduleKeyDeletion",
        &[("KeyId", &k.id), ("PendingWindowInDays", "7")],
    )
    .await
    .ok();
    aws.cancel_key_deletion()
        .key_id(&k.id)
        .send()
        .await
        .unwrap();
    assert_eq!(ali.state(&k.id).await, "Disabled");
}

#[tokio::test]
async fn one_engine_behind_both_dialects() {
    let server = Server::start();
    let aws = server.client_for(REGION, "test", "test");
    let ali = Ali::new(&server, Scheme::Acs3);

    // Made through AWS, seen through Alibaba in Alibaba's shapes.
    let key = common::create_with(aws.create_key().description("from aws")).await;
    let meta = ali.call("DescribeKey", &[("KeyId", &key)]).await.ok()["KeyMetadata"].clone();
    assert_eq!(meta["Arn"], format!("acs:kms:{REGION}:{ACCOUNT}:key/{key}"));
    assert_eq!(meta["Description"], "from aws");
    assert_eq!(meta["KeySpec"], "Aliyun_AES_256");

    // Encrypted through AWS, decrypted through Alibaba; and back.
    let blob = common::encrypt_request(&aws, &key, "cross")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();
    let dec = ali
        .call("Decrypt", &[("CiphertextBlob", &B64.encode(&blob))])
        .await
        .ok();
    assert_eq!(dec["Plaintext"], B64.encode("cross"));
    let enc = ali
        .call(
            "Encrypt",
            &[("KeyId", &key), ("Plaintext", &B64.encode("back"))],
        )
        .await
        .ok();
    assert_eq!(
        common::plaintext_of(common::decrypt_request(
            &aws,
            B64.decode(enc["CiphertextBlob"].as_str().unwrap()).unwrap(),
        ))
        .await,
        b"back"
    );

    // Disabled through Alibaba, seen Disabled through AWS.
    ali.call("DisableKey", &[("KeyId", &key)]).await.ok();
    let state = common::metadata(&aws, &key).await;
    assert_eq!(
        state.key_state(),
        Some(&aws_sdk_kms::types::KeyState::Disabled)
    );

    // Keys stay in their account and region: a us-east-1 key is not in cn-hangzhou.
    let elsewhere = server.client().create_key().send().await.unwrap();
    let id = elsewhere.key_metadata().unwrap().key_id();
    ali.call("DescribeKey", &[("KeyId", id)])
        .await
        .expect(404, "Forbidden.KeyNotFound");
}

/// Imports `material` into an EXTERNAL key the way an Alibaba client does: parameters, local
/// RSA-OAEP-SHA256 wrapping (RustCrypto, independent of the server), ImportKeyMaterial.
async fn import(ali: &Ali, key: &str, material: &[u8]) -> Reply {
    let params = ali
        .call(
            "GetParametersForImport",
            &[
                ("KeyId", key),
                ("WrappingAlgorithm", "RSAES_OAEP_SHA_256"),
                ("WrappingKeySpec", "RSA_2048"),
            ],
        )
        .await
        .ok();
    let expires = trent_aliyun::time::parse(params["TokenExpireTime"].as_str().unwrap()).unwrap();
    assert!(expires > trent_aliyun::time::parse(&timestamp(SystemTime::now())).unwrap());
    let public = B64.decode(params["PublicKey"].as_str().unwrap()).unwrap();
    let wrapped = byok::wrap(
        &public,
        &aws_sdk_kms::types::AlgorithmSpec::RsaesOaepSha256,
        material,
    );
    ali.call(
        "ImportKeyMaterial",
        &[
            ("KeyId", key),
            ("EncryptedKeyMaterial", &B64.encode(wrapped)),
            ("ImportToken", params["ImportToken"].as_str().unwrap()),
            ("KeyMaterialExpireUnix", "0"),
        ],
    )
    .await
}

/// An EXTERNAL key in the wanted state (with material unless PendingImport).
async fn byok_key_in(ali: &Ali, state: KeyState, material: &[u8]) -> String {
    let id = ali.create_key(&[("Origin", "EXTERNAL")]).await;
    if state != KeyState::PendingImport {
        import(ali, &id, material).await.ok();
    }
    move_to(ali, &id, state).await;
    id
}

#[tokio::test]
async fn every_cell_of_the_byok_table_holds() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let material = [7u8; 32];
    for (op, cells) in [
        ("GetParametersForImport", [S, S, S, S]),
        ("ImportKeyMaterial", [S, S, SMF, S]),
        ("DeleteKeyMaterial", [S, S, S, S]),
    ] {
        for (state, expected) in STATES.iter().zip(cells) {
            let id = byok_key_in(&ali, *state, &material).await;
            let reply = match op {
                "GetParametersForImport" => {
                    ali.call(
                        op,
                        &[
                            ("KeyId", &id),
                            ("WrappingAlgorithm", "RSAES_OAEP_SHA_1"),
                            ("WrappingKeySpec", "RSA_2048"),
                        ],
                    )
                    .await
                }
                // Re-importing the same material is allowed; the state decides.
                "ImportKeyMaterial" => import(&ali, &id, &material).await,
                _ => ali.call(op, &[("KeyId", &id)]).await,
            };
            assert_cell(op, state, expected, &reply);
        }
    }
}

#[tokio::test]
async fn imported_material_works_and_deleting_it_returns_the_key_to_pending_import() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let id = byok_key_in(&ali, KeyState::PendingImport, &[]).await;
    import(&ali, &id, &[9u8; 32]).await.ok();
    assert_eq!(ali.state(&id).await, "Enabled");
    let enc = ali
        .call("Encrypt", &[("KeyId", &id), ("Plaintext", "aGk=")])
        .await
        .ok();
    // Different material for the same key is refused.
    import(&ali, &id, &[8u8; 32])
        .await
        .expect(400, "InvalidKeyMaterial");
    ali.call("DeleteKeyMaterial", &[("KeyId", &id)]).await.ok();
    assert_eq!(ali.state(&id).await, "PendingImport");
    ali.decrypt(&enc)
        .await
        .expect(409, "Rejected.PendingImport");
    // The same material again: old ciphertexts decrypt.
    import(&ali, &id, &[9u8; 32]).await.ok();
    let dec = ali.decrypt(&enc).await.ok();
    assert_eq!(dec["Plaintext"], "aGk=");
}

#[tokio::test]
async fn asymmetric_keys_sign_verify_encrypt_decrypt() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);

    let ec = ali
        .call(
            "CreateKey",
            &[("KeySpec", "EC_P256"), ("KeyUsage", "SIGN/VERIFY")],
        )
        .await
        .ok();
    assert_eq!(ec["KeyMetadata"]["KeySpec"], "EC_P256");
    assert_eq!(ec["KeyMetadata"]["KeyUsage"], "SIGN/VERIFY");
    let ec = ec["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let versions = ali.call("ListKeyVersions", &[("KeyId", &ec)]).await.ok();
    let version = versions["KeyVersions"]["KeyVersion"][0]["KeyVersionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = ali
        .call(
            "GetPublicKey",
            &[("KeyId", &ec), ("KeyVersionId", &version)],
        )
        .await
        .ok();
    assert!(public["PublicKey"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let digest = B64.encode(digest::digest(&digest::SHA256, b"message").as_ref());
    let signed = ali
        .call(
            "AsymmetricSign",
            &[
                ("KeyId", &ec),
                ("KeyVersionId", &version),
                ("Algorithm", "ECDSA_SHA_256"),
                ("Digest", &digest),
            ],
        )
        .await
        .ok();
    let signature = signed["Value"].as_str().unwrap();
    let verify = |digest: String| {
        let ali = &ali;
        let (ec, version, signature) = (ec.clone(), version.clone(), signature.to_owned());
        async move {
            ali.call(
                "AsymmetricVerify",
                &[
                    ("KeyId", &ec),
                    ("KeyVersionId", &version),
                    ("Algorithm", "ECDSA_SHA_256"),
                    ("Digest", &digest),
                    ("Value", &signature),
                ],
            )
            .await
            .ok()["Value"]
                .clone()
        }
    };
    assert_eq!(verify(digest.clone()).await, Value::Bool(true));
    let other = B64.encode(digest::digest(&digest::SHA256, b"other").as_ref());
    assert_eq!(verify(other).await, Value::Bool(false));
    ali.call(
        "GetPublicKey",
        &[
            ("KeyId", &ec),
            ("KeyVersionId", "00000000-0000-0000-0000-000000000000"),
        ],
    )
    .await
    .expect(404, "Forbidden.KeyVersionNotFound");

    let rsa = ali
        .create_key(&[("KeySpec", "RSA_2048"), ("KeyUsage", "ENCRYPT/DECRYPT")])
        .await;
    let versions = ali.call("ListKeyVersions", &[("KeyId", &rsa)]).await.ok();
    let version = versions["KeyVersions"]["KeyVersion"][0]["KeyVersionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let enc = ali
        .call(
            "AsymmetricEncrypt",
            &[
                ("KeyId", &rsa),
                ("KeyVersionId", &version),
                ("Algorithm", "RSAES_OAEP_SHA_256"),
                ("Plaintext", "aGk="),
            ],
        )
        .await
        .ok();
    let dec = ali
        .call(
            "AsymmetricDecrypt",
            &[
                ("KeyId", &rsa),
                ("KeyVersionId", &version),
                ("Algorithm", "RSAES_OAEP_SHA_256"),
                ("CiphertextBlob", enc["CiphertextBlob"].as_str().unwrap()),
            ],
        )
        .await
        .ok();
    assert_eq!(dec["Plaintext"], "aGk=");
    // Data keys exported to that RSA key's public half open with it.
    let pem = ali
        .call(
            "GetPublicKey",
            &[("KeyId", &rsa), ("KeyVersionId", &version)],
        )
        .await
        .ok()["PublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let sym = ali.create_key(&[]).await;
    let exported = ali
        .call(
            "GenerateAndExportDataKey",
            &[
                ("KeyId", &sym),
                ("PublicKeyBlob", &der),
                ("WrappingAlgorithm", "RSAES_OAEP_SHA_256"),
                ("WrappingKeySpec", "RSA_2048"),
                ("NumberOfBytes", "32"),
            ],
        )
        .await
        .ok();
    let blob = exported["CiphertextBlob"].as_str().unwrap().to_owned();
    let data_key =
        ali.call("Decrypt", &[("CiphertextBlob", &blob)]).await.ok()["Plaintext"].clone();
    let open = |ciphertext: String, algorithm: &'static str| {
        let (ali, rsa, version) = (&ali, rsa.clone(), version.clone());
        async move {
            ali.call(
                "AsymmetricDecrypt",
                &[
                    ("KeyId", &rsa),
                    ("KeyVersionId", &version),
                    ("Algorithm", algorithm),
                    ("CiphertextBlob", &ciphertext),
                ],
            )
            .await
            .ok()["Plaintext"]
                .clone()
        }
    };
    let exported_key = exported["ExportedDataKey"].as_str().unwrap().to_owned();
    assert_eq!(open(exported_key, "RSAES_OAEP_SHA_256").await, data_key);
    let again = ali
        .call(
            "ExportDataKey",
            &[
                ("CiphertextBlob", &blob),
                ("PublicKeyBlob", &der),
                ("WrappingAlgorithm", "RSAES_OAEP_SHA_1"),
                ("WrappingKeySpec", "RSA_2048"),
            ],
        )
        .await
        .ok();
    assert_eq!(again["KeyId"], sym.as_str());
    let again_key = again["ExportedDataKey"].as_str().unwrap().to_owned();
    assert_eq!(open(again_key, "RSAES_OAEP_SHA_1").await, data_key);
    ali.call(
        "ExportDataKey",
        &[
            ("CiphertextBlob", &blob),
            ("PublicKeyBlob", "bm90IGEga2V5"),
            ("WrappingAlgorithm", "RSAES_OAEP_SHA_1"),
            ("WrappingKeySpec", "RSA_2048"),
        ],
    )
    .await
    .expect(400, "InvalidParameter");
    ali.call(
        "ExportDataKey",
        &[
            ("CiphertextBlob", &blob),
            ("PublicKeyBlob", &der),
            ("WrappingAlgorithm", "SM2PKE"),
            ("WrappingKeySpec", "EC_SM2"),
        ],
    )
    .await
    .expect(400, "Rejected.UnsupportedOperation");

    // An asymmetric key's state is checked as for Encrypt.
    ali.call("DisableKey", &[("KeyId", &rsa)]).await.ok();
    ali.call(
        "AsymmetricEncrypt",
        &[
            ("KeyId", &rsa),
            ("KeyVersionId", &version),
            ("Algorithm", "RSAES_OAEP_SHA_256"),
            ("Plaintext", "aGk="),
        ],
    )
    .await
    .expect(409, "Rejected.Disabled");
}

#[tokio::test]
async fn rotation_adds_key_versions_and_old_ciphertexts_still_decrypt() {
    let server = Server::start_with(&["--sweep-interval-secs", "1"]);
    let ali = Ali::new(&server, Scheme::Acs3);
    let created = ali
        .call(
            "CreateKey",
            &[
                ("EnableAutomaticRotation", "true"),
                ("RotationInterval", "604800s"),
            ],
        )
        .await
        .ok();
    let meta = &created["KeyMetadata"];
    assert_eq!(meta["AutomaticRotation"], "Enabled");
    assert_eq!(meta["RotationInterval"], "604800s");
    assert!(meta["NextRotationDate"].is_string());
    let key = meta["KeyId"].as_str().unwrap().to_owned();
    // Keys that cannot rotate are refused before they exist.
    ali.call(
        "CreateKey",
        &[("Origin", "EXTERNAL"), ("EnableAutomaticRotation", "true")],
    )
    .await
    .expect(400, "Rejected.UnsupportedOperation");
    let listed = ali.call("ListKeys", &[]).await.ok();
    assert_eq!(listed["TotalCount"], 1);
    let first = ali
        .call("Encrypt", &[("KeyId", &key), ("Plaintext", "b2xk")])
        .await
        .ok();

    server.advance_clock(8 * 86_400).await;
    let mut versions = Value::Null;
    for _ in 0..50 {
        versions = ali.call("ListKeyVersions", &[("KeyId", &key)]).await.ok();
        if versions["TotalCount"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(versions["TotalCount"], 2, "{versions:?}");
    let newest = versions["KeyVersions"]["KeyVersion"][1]["KeyVersionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let meta = ali.call("DescribeKey", &[("KeyId", &key)]).await.ok()["KeyMetadata"].clone();
    assert_eq!(meta["PrimaryKeyVersion"], newest.as_str());
    let second = ali
        .call("Encrypt", &[("KeyId", &key), ("Plaintext", "bmV3")])
        .await
        .ok();
    assert_eq!(second["KeyVersionId"], newest.as_str());
    // Each ciphertext names its version; the old one still decrypts.
    let dec = ali.decrypt(&first).await.ok();
    assert_eq!(
        (dec["Plaintext"].as_str(), &dec["KeyVersionId"]),
        (Some("b2xk"), &first["KeyVersionId"])
    );

    // CreateKeyVersion: a third version, now the primary; every older ciphertext still decrypts.
    let created = ali.call("CreateKeyVersion", &[("KeyId", &key)]).await.ok();
    let third = created["KeyVersion"]["KeyVersionId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(third, newest);
    assert_eq!(created["KeyVersion"]["KeyId"], key.as_str());
    let versions = ali.call("ListKeyVersions", &[("KeyId", &key)]).await.ok();
    assert_eq!(versions["TotalCount"], 3);
    let meta = ali.call("DescribeKey", &[("KeyId", &key)]).await.ok()["KeyMetadata"].clone();
    assert_eq!(meta["PrimaryKeyVersion"], third.as_str());
    let third_ct = ali
        .call("Encrypt", &[("KeyId", &key), ("Plaintext", "dGhpcmQ=")])
        .await
        .ok();
    assert_eq!(third_ct["KeyVersionId"], third.as_str());
    for ct in [&first, &second, &third_ct] {
        ali.decrypt(ct).await.ok();
    }
    ali.call("DisableKey", &[("KeyId", &key)]).await.ok();
    ali.call("CreateKeyVersion", &[("KeyId", &key)])
        .await
        .expect(409, "Rejected.Disabled");
    ali.call("EnableKey", &[("KeyId", &key)]).await.ok();
    // Keys with imported material get no versions from Alibaba (AWS clients rotate them to
    // material they import first).
    let byok = byok_key_in(&ali, KeyState::Enabled, &[6u8; 32]).await;
    ali.call("CreateKeyVersion", &[("KeyId", &byok)])
        .await
        .expect(400, "Rejected.UnsupportedOperation");

    ali.call(
        "UpdateRotationPolicy",
        &[("KeyId", &key), ("EnableAutomaticRotation", "false")],
    )
    .await
    .ok();
    let meta = ali.call("DescribeKey", &[("KeyId", &key)]).await.ok()["KeyMetadata"].clone();
    assert_eq!(meta["AutomaticRotation"], "Disabled");
    ali.call(
        "UpdateRotationPolicy",
        &[
            ("KeyId", &key),
            ("EnableAutomaticRotation", "true"),
            ("RotationInterval", "6d"),
        ],
    )
    .await
    .expect(400, "InvalidParameter");
    ali.call(
        "UpdateRotationPolicy",
        &[("KeyId", &key), ("EnableAutomaticRotation", "true")],
    )
    .await
    .expect(400, "MissingParameter");
}

#[tokio::test]
async fn deletion_protection_refuses_scheduled_deletion_in_both_dialects() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let aws = server.client_for(REGION, "test", "test");
    let key = ali.create_key(&[]).await;
    let arn = format!("acs:kms:{REGION}:{ACCOUNT}:key/{key}");
    let meta = |body: Value| body["KeyMetadata"].clone();
    let described = meta(ali.call("DescribeKey", &[("KeyId", &key)]).await.ok());
    assert_eq!(described["DeletionProtection"], "Disabled");
    assert!(described.get("DeletionProtectionDescription").is_none());

    // Parameters: the flag is required; the key is named once, by its ARN or its id.
    for (params, code) in [
        (
            vec![("ProtectedResourceArn", arn.as_str())],
            "MissingParameter",
        ),
        (
            vec![("EnableDeletionProtection", "true")],
            "MissingParameter",
        ),
        (
            vec![
                ("ProtectedResourceArn", arn.as_str()),
                ("KeyId", key.as_str()),
                ("EnableDeletionProtection", "true"),
            ],
            "InvalidParameter",
        ),
        (
            vec![
                ("ProtectedResourceArn", key.as_str()),
                ("EnableDeletionProtection", "true"),
            ],
            "InvalidParameter",
        ),
        (
            vec![
                (
                    "ProtectedResourceArn",
                    "acs:kms:cn-hangzhou:000000000000:alias/a",
                ),
                ("EnableDeletionProtection", "true"),
            ],
            "InvalidParameter",
        ),
        (
            vec![
                ("ProtectedResourceArn", arn.as_str()),
                ("EnableDeletionProtection", "maybe"),
            ],
            "InvalidParameter",
        ),
    ] {
        ali.call("SetDeletionProtection", &params)
            .await
            .expect(400, code);
    }

    ali.call(
        "SetDeletionProtection",
        &[
            ("ProtectedResourceArn", &arn),
            ("EnableDeletionProtection", "true"),
            (
                "DeletionProtectionDescription",
                "used by the billing service",
            ),
        ],
    )
    .await
    .ok();
    let described = meta(ali.call("DescribeKey", &[("KeyId", &key)]).await.ok());
    assert_eq!(described["DeletionProtection"], "Enabled");
    assert_eq!(
        described["DeletionProtectionDescription"],
        "used by the billing service"
    );

    // Refused through Alibaba and through AWS: one engine rule.
    ali.call(
        "ScheduleKeyDeletion",
        &[("KeyId", &key), ("PendingWindowInDays", "7")],
    )
    .await
    .expect(409, "Rejected.StateModifiedFailed");
    let e = aws
        .schedule_key_deletion()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "KMSInvalidStateException");
    assert_eq!(ali.state(&key).await, "Enabled");
    // Other changes are not affected.
    ali.call("DisableKey", &[("KeyId", &key)]).await.ok();

    // Off again (by KeyId, as the current SDK and Terraform send it; a description is ignored
    // when turning protection off), and the key can be scheduled for deletion.
    ali.call(
        "SetDeletionProtection",
        &[
            ("KeyId", &key),
            ("EnableDeletionProtection", "false"),
            ("DeletionProtectionDescription", "ignored"),
        ],
    )
    .await
    .ok();
    let described = meta(ali.call("DescribeKey", &[("KeyId", &key)]).await.ok());
    assert_eq!(described["DeletionProtection"], "Disabled");
    assert!(described.get("DeletionProtectionDescription").is_none());
    aws.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    // Pending deletion: protection can be neither turned on nor off.
    ali.call(
        "SetDeletionProtection",
        &[("KeyId", &key), ("EnableDeletionProtection", "true")],
    )
    .await
    .expect(409, "Rejected.PendingDeletion");
    ali.call(
        "SetDeletionProtection",
        &[
            ("KeyId", "1234abcd-12ab-34cd-56ef-1234567890ab"),
            ("EnableDeletionProtection", "true"),
        ],
    )
    .await
    .expect(404, "Forbidden.KeyNotFound");
}

/// ListTagResources' rows as (key id, tag key, tag value), and its NextToken.
fn tag_rows(body: &Value) -> (Vec<(String, String, String)>, Option<String>) {
    let rows = body["TagResources"]["TagResource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["ResourceType"], "key");
            (
                r["ResourceId"].as_str().unwrap().to_owned(),
                r["TagKey"].as_str().unwrap().to_owned(),
                r["TagValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (rows, body["NextToken"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn batch_tag_api_works_on_the_same_tags() {
    let server = Server::start();
    for scheme in [Scheme::Acs3, Scheme::Rpc] {
        let ali = Ali::new(&server, scheme);
        let mut ids = [ali.create_key(&[]).await, ali.create_key(&[]).await];
        ids.sort();
        let [a, b] = &ids;
        let batch = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
            // The legacy signer sends RegionId itself.
            let mut params = vec![("ResourceType".to_owned(), "key".to_owned())];
            if scheme == Scheme::Acs3 {
                params.push(("RegionId".to_owned(), REGION.to_owned()));
            }
            params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            params
        };
        let call = |params: Vec<(String, String)>, action: &'static str| {
            let ali = &ali;
            async move {
                let borrowed: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                ali.call(action, &borrowed).await
            }
        };

        call(
            batch(&[
                ("ResourceId.1", b),
                ("ResourceId.2", a),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
                ("Tag.2.Key", "team"),
                ("Tag.2.Value", "core"),
            ]),
            "TagResources",
        )
        .await
        .ok();
        // The older API sees them, and its tags are seen by the newer one.
        let old = ali.call("ListResourceTags", &[("KeyId", a)]).await.ok();
        assert_eq!(old["Tags"]["Tag"].as_array().unwrap().len(), 2);
        ali.call(
            "TagResource",
            &[
                ("KeyId", b),
                ("Tags", r#"[{"TagKey":"only-b","TagValue":"x"}]"#),
            ],
        )
        .await
        .ok();
        let row = |id: &str, k: &str, v: &str| (id.to_owned(), k.to_owned(), v.to_owned());
        let everything = vec![
            row(a, "env", "prod"),
            row(a, "team", "core"),
            row(b, "env", "prod"),
            row(b, "only-b", "x"),
            row(b, "team", "core"),
        ];
        let listed = call(
            batch(&[("ResourceId.1", b), ("ResourceId.2", a)]),
            "ListTagResources",
        )
        .await
        .ok();
        assert_eq!(tag_rows(&listed), (everything.clone(), None));

        // Filters: by key, by key and value.
        let listed = call(
            batch(&[
                ("ResourceId.1", a),
                ("ResourceId.2", b),
                ("Tag.1.Key", "env"),
            ]),
            "ListTagResources",
        )
        .await
        .ok();
        assert_eq!(
            tag_rows(&listed).0,
            [row(a, "env", "prod"), row(b, "env", "prod")]
        );
        let listed = call(
            batch(&[
                ("ResourceId.1", a),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "dev"),
            ]),
            "ListTagResources",
        )
        .await
        .ok();
        assert!(tag_rows(&listed).0.is_empty());

        // Pages of two, following NextToken.
        let mut paged = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = vec![
                ("ResourceId.1", a.as_str()),
                ("ResourceId.2", b.as_str()),
                ("MaxResults", "2"),
            ];
            if let Some(t) = &token {
                params.push(("NextToken", t));
            }
            let (rows, next) = tag_rows(&call(batch(&params), "ListTagResources").await.ok());
            assert!(rows.len() <= 2);
            paged.extend(rows);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(paged, everything);

        // Untag one key by tag key, and every tag of the other with All.
        call(
            batch(&[("ResourceId.1", a), ("TagKey.1", "env")]),
            "UntagResources",
        )
        .await
        .ok();
        call(batch(&[("ResourceId.1", b)]), "UntagResources")
            .await
            .expect(400, "MissingParameter");
        call(
            batch(&[("ResourceId.1", b), ("All", "true")]),
            "UntagResources",
        )
        .await
        .ok();
        let listed = call(
            batch(&[("ResourceId.1", a), ("ResourceId.2", b)]),
            "ListTagResources",
        )
        .await
        .ok();
        assert_eq!(tag_rows(&listed).0, [row(a, "team", "core")]);

        // Refusals: secrets, no RegionId, reserved and malformed tags, too many, gaps, a bad token.
        let refused: Vec<Vec<(&str, &str)>> = vec![
            vec![
                ("ResourceType", "secret"),
                ("ResourceId.1", a),
                ("Tag.1.Key", "k"),
            ],
            vec![("ResourceId.1", a), ("Tag.1.Key", "aliyun:k")],
            vec![("ResourceId.1", a), ("Tag.1.Key", "")],
            vec![("ResourceId.1", a), ("Tag.1.Key", "k"), ("Tag.3.Key", "j")],
            vec![
                ("ResourceId.1", a),
                ("Tag.1.Key", "k"),
                ("Tag.1.Colour", "red"),
            ],
        ];
        for extra in refused {
            let mut params = batch(&[]);
            params.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            call(params, "TagResources")
                .await
                .expect(400, "InvalidParameter");
        }
        let many: Vec<(String, String)> = (1..=21)
            .map(|i| (format!("Tag.{i}.Key"), format!("k{i}")))
            .chain([("ResourceId.1".to_owned(), a.clone())])
            .collect();
        let mut params = batch(&[]);
        params.extend(many);
        call(params, "TagResources")
            .await
            .expect(400, "InvalidParameter");
        call(
            batch(&[("ResourceId.1", a), ("NextToken", "bm9wZQ==")]),
            "ListTagResources",
        )
        .await
        .expect(400, "InvalidParameter");
        call(batch(&[("Tag.1.Key", "k")]), "TagResources")
            .await
            .expect(400, "MissingParameter");
        if scheme == Scheme::Acs3 {
            // ACS3 carries no RegionId of its own: it is required here.
            ali.call(
                "TagResources",
                &[
                    ("ResourceType", "key"),
                    ("ResourceId.1", a),
                    ("Tag.1.Key", "k"),
                ],
            )
            .await
            .expect(400, "MissingParameter");
        }

        // The engine's rules hold: a key pending deletion refuses tags; a missing key is not found.
        move_to(&ali, b, KeyState::PendingDeletion).await;
        call(
            batch(&[
                ("ResourceId.1", b),
                ("Tag.1.Key", "k"),
                ("Tag.1.Value", "v"),
            ]),
            "TagResources",
        )
        .await
        .expect(409, "Rejected.PendingDeletion");
        call(
            batch(&[
                ("ResourceId.1", "1234abcd-12ab-34cd-56ef-1234567890ab"),
                ("Tag.1.Key", "k"),
            ]),
            "TagResources",
        )
        .await
        .expect(404, "Forbidden.KeyNotFound");
    }
}

#[tokio::test]
async fn sixteen_digit_alibaba_uids_serve_alibaba_requests_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trent.toml");
    std::fs::write(
        &config,
        "[[credentials]]\naccess_key_id = \"LTAIuid\"\nsecret_access_key = \"s3cret\"\naccount_id = \"1234567890123456\"\n",
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()]);
    let ali = Ali::with_key(&server, Scheme::Acs3, "LTAIuid", "s3cret");
    let meta = ali.call("CreateKey", &[]).await.ok()["KeyMetadata"].clone();
    let key = meta["KeyId"].as_str().unwrap();
    let arn = format!("acs:kms:{REGION}:1234567890123456:key/{key}");
    assert_eq!(meta["Arn"], arn);
    assert_eq!(meta["Creator"], "1234567890123456");
    ali.call("DescribeKey", &[("KeyId", &arn)]).await.ok();
    // AWS ARNs carry 12 digits: the credential does not exist for AWS requests.
    let aws = server.client_for(REGION, "LTAIuid", "s3cret");
    let e = aws.list_keys().send().await.unwrap_err();
    assert_eq!(common::code(&e), "UnrecognizedClientException");
}

/// The Alibaba dialect is no back door: a credential acting as an IAM user is decided by the
/// same gate, key policy and identity policy, and refused where the AWS dialect refuses.
#[tokio::test]
async fn alibaba_requests_pass_the_same_gate() {
    let config = format!(
        "[[credentials]]\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\naccount_id = \"{ACCOUNT}\"\n\
         [[credentials]]\naccess_key_id = \"BOB\"\nsecret_access_key = \"bobsecret\"\naccount_id = \"{ACCOUNT}\"\nprincipal = \"arn:aws:iam::{ACCOUNT}:user/bob\"\n\
         [[credentials]]\naccess_key_id = \"ALICE\"\nsecret_access_key = \"alicesecret\"\naccount_id = \"{ACCOUNT}\"\nprincipal = \"arn:aws:iam::{ACCOUNT}:user/alice\"\n\
         policy = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}]}}'''\n\
         [[credentials]]\naccess_key_id = \"CAROL\"\nsecret_access_key = \"carolsecret\"\naccount_id = \"{ACCOUNT}\"\nprincipal = \"arn:aws:iam::{ACCOUNT}:user/carol\"\n\
         policy = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}},{{\"Effect\":\"Deny\",\"Action\":\"kms:UntagResource\",\"Resource\":\"*\",\"Condition\":{{\"ForAnyValue:StringEquals\":{{\"aws:TagKeys\":\"Owner\"}}}}}}]}}'''\n\
         [[credentials]]\naccess_key_id = \"DAN\"\nsecret_access_key = \"dansecret\"\naccount_id = \"444455556666\"\nprincipal = \"arn:aws:iam::444455556666:user/dan\"\n\
         policy = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}},{{\"Effect\":\"Deny\",\"Action\":\"kms:UntagResource\",\"Resource\":\"*\",\"Condition\":{{\"ForAnyValue:StringEquals\":{{\"aws:TagKeys\":\"Owner\"}}}}}}]}}'''\n"
    );
    let (server, _dir) = common::start_with_config(&config);
    let root = Ali::new(&server, Scheme::Acs3);
    let bob = Ali::with_key(&server, Scheme::Acs3, "BOB", "bobsecret");
    let alice = Ali::with_key(&server, Scheme::Rpc, "ALICE", "alicesecret");
    let key = root.create_key(&[]).await;
    let plaintext = B64.encode(b"secret");
    let params = [("KeyId", key.as_str()), ("Plaintext", plaintext.as_str())];

    // Bob: no identity policy, and the key's (Alibaba default) policy delegates to the account.
    let reply = bob.call("Encrypt", &params).await;
    reply.expect(403, "Forbidden.NoPermission");
    let message = reply.body["Message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: kms:Encrypt"
        )),
        "{message}"
    );
    bob.call("CreateKey", &[])
        .await
        .expect(403, "Forbidden.NoPermission");
    bob.call(
        "ScheduleKeyDeletion",
        &[("KeyId", &key), ("PendingWindowInDays", "7")],
    )
    .await
    .expect(403, "Forbidden.NoPermission");
    // The AWS dialect refuses the same caller the same way.
    let aws_bob = server.client_for(REGION, "BOB", "bobsecret");
    let e = common::encrypt_request(&aws_bob, &key, "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "AccessDeniedException");

    // Alice's identity policy allows; the root always may.
    alice.call("Encrypt", &params).await.ok();
    root.call("Encrypt", &params).await.ok();
    let state = root.call("DescribeKey", &[("KeyId", &key)]).await.ok();
    assert_eq!(state["KeyMetadata"]["KeyState"], "Enabled");

    // Carol may remove any tag but Owner: removing every tag with All removes Owner too, so
    // it is refused as naming it would be, and Owner stays.
    let carol = Ali::with_key(&server, Scheme::Rpc, "CAROL", "carolsecret");
    let tag = |k: &'static str| {
        [
            ("RegionId", REGION),
            ("ResourceType", "key"),
            ("ResourceId.1", key.as_str()),
            ("Tag.1.Key", k),
            ("Tag.1.Value", "v"),
        ]
    };
    root.call("TagResources", &tag("Owner")).await.ok();
    root.call("TagResources", &tag("scratch")).await.ok();
    let untag = |extra: (&'static str, &'static str)| {
        [
            ("ResourceType", "key"),
            ("ResourceId.1", key.as_str()),
            extra,
        ]
    };
    for refused in [("TagKey.1", "Owner"), ("All", "true")] {
        carol
            .call("UntagResources", &untag(refused))
            .await
            .expect(403, "Forbidden.NoPermission");
    }
    carol
        .call("UntagResources", &untag(("TagKey.1", "scratch")))
        .await
        .ok();
    let listed = root
        .call(
            "ListTagResources",
            &[
                ("RegionId", REGION),
                ("ResourceType", "key"),
                ("ResourceId.1", key.as_str()),
            ],
        )
        .await
        .ok();
    let keys: Vec<&str> = listed["TagResources"]["TagResource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["TagKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["Owner"]);

    // Another account's caller learns nothing of which of this account's aliases exist.
    root.call(
        "CreateAlias",
        &[("AliasName", "alias/exists"), ("KeyId", &key)],
    )
    .await
    .ok();
    let dan = Ali::with_key(&server, Scheme::Rpc, "DAN", "dansecret");
    for alias in ["alias/exists", "alias/none"] {
        let arn = format!("acs:kms:{REGION}:{ACCOUNT}:{alias}");
        dan.call(
            "ListTagResources",
            &[("ResourceType", "key"), ("ResourceId.1", arn.as_str())],
        )
        .await
        .expect(403, "Forbidden.NoPermission");
    }
    // Nor, removing every tag, which tags a key of this account has: refused alike for a key
    // tagged Owner (which dan's own policy forbids removing) and for a missing key.
    let mut messages = Vec::new();
    for id in [key.as_str(), "0b0e7c5e-0000-4000-8000-000000000000"] {
        let arn = format!("acs:kms:{REGION}:{ACCOUNT}:key/{id}");
        let reply = dan
            .call(
                "UntagResources",
                &[
                    ("ResourceType", "key"),
                    ("ResourceId.1", arn.as_str()),
                    ("All", "true"),
                ],
            )
            .await;
        reply.expect(403, "Forbidden.NoPermission");
        messages.push(reply.body["Message"].as_str().unwrap().replace(id, "KEY"));
    }
    assert_eq!(messages[0], messages[1]);
}

/// Alibaba requests are recorded in the audit trail too: CloudTrail's shape, Alibaba's event
/// source, the operation's own parameters without the plaintext or the signature parameters.
#[tokio::test]
async fn alibaba_requests_are_recorded_in_the_audit_trail() {
    let server = Server::start();
    let ali = Ali::new(&server, Scheme::Acs3);
    let key = common::create_with(
        server
            .client_for(REGION, "test", "test")
            .create_key()
            .description("audited"),
    )
    .await;
    let secret = B64.encode("alibaba-audit-plaintext-5e1d");
    ali.call("Encrypt", &[("KeyId", &key), ("Plaintext", &secret)])
        .await
        .ok();
    let bodies = server.audit_bodies();
    let encrypt: Value = bodies
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .find(|r| r["eventSource"] == "kms.aliyuncs.com")
        .expect("the Alibaba request's record");
    assert_eq!(encrypt["eventName"], "Encrypt");
    assert_eq!(encrypt["requestParameters"]["keyId"], key.as_str());
    assert_eq!(encrypt["userIdentity"]["type"], "Root");
    assert_eq!(
        encrypt["resources"][0]["ARN"],
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}")
    );
    for body in &bodies {
        assert!(!body.contains(&secret) && !body.contains("alibaba-audit-plaintext"));
        assert!(!body.contains("SignatureNonce") && !body.contains("signatureNonce"));
    }
}

/// Alibaba has no multi-Region keys: a multi-Region key made through AWS is an ordinary key
/// there (listed, described, used), and its replica in another Region is that Region's key.
#[tokio::test]
async fn multi_region_keys_are_ordinary_keys_in_the_alibaba_dialect() {
    let server = Server::start();
    let aws = server.client_for(REGION, "test", "test");
    let ali = Ali::new(&server, Scheme::Acs3);
    let key = common::create_with(aws.create_key().multi_region(true)).await;
    assert!(key.starts_with("mrk-"), "{key}");
    aws.replicate_key()
        .key_id(&key)
        .replica_region("ap-southeast-1")
        .send()
        .await
        .unwrap();
    let meta = ali.call("DescribeKey", &[("KeyId", &key)]).await.ok()["KeyMetadata"].clone();
    assert_eq!(meta["KeyId"], key);
    assert_eq!(meta["Arn"], format!("acs:kms:{REGION}:{ACCOUNT}:key/{key}"));
    assert_eq!(meta["KeyState"], "Enabled");
    let listed = ali.call("ListKeys", &[("PageSize", "100")]).await.ok();
    assert!(
        listed.to_string().contains(&key),
        "ListKeys lists the key: {listed}"
    );
    let enc = ali
        .call(
            "Encrypt",
            &[("KeyId", &key), ("Plaintext", &B64.encode("mrk"))],
        )
        .await
        .ok();
    let dec = ali
        .call(
            "Decrypt",
            &[("CiphertextBlob", enc["CiphertextBlob"].as_str().unwrap())],
        )
        .await
        .ok();
    assert_eq!(dec["Plaintext"], B64.encode("mrk"));
}
