//! The wire protocol below the SDK: raw HTTP requests, signed by hand, checking status codes,
//! error shapes and authentication failures.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Server;
use trent_aws::sigv4::{self, Credential, SignedRequest};
use trent_crypto::SecretBytes;

struct Reply {
    status: u16,
    request_id: Option<String>,
    body: serde_json::Value,
}

fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Sends a request signed with the given secret at the given time (or unsigned).
async fn send(
    server: &Server,
    target: Option<&str>,
    body: &[u8],
    signing: Option<(&str, SystemTime)>,
) -> Reply {
    let host = server.url.trim_start_matches("http://").to_owned();
    let date = amz_date(signing.map(|(_, t)| t).unwrap_or_else(SystemTime::now));
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host),
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-date".into(), date.clone()),
    ];
    if let Some(t) = target {
        headers.push(("x-amz-target".into(), t.into()));
    }
    if let Some((secret, _)) = signing {
        let cred = Credential {
            access_key_id: "test".into(),
            secret_access_key: SecretBytes::new(secret.as_bytes().to_vec()),
            account_id: "000000000000".into(),
            session_token: None,
        };
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &pairs,
            body,
        };
        let auth = sigv4::sign(&req, &cred, "us-east-1", "kms", &date);
        headers.push(("authorization".into(), auth));
    }
    let mut rb = reqwest::Client::new()
        .post(format!("{}/", server.url))
        .body(body.to_vec());
    for (k, v) in &headers {
        if k != "host" {
            rb = rb.header(k, v);
        }
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-amzn-requestid")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Reply {
        status,
        request_id,
        body,
    }
}

async fn signed(server: &Server, op: &str, body: &str) -> Reply {
    send(
        server,
        Some(&format!("TrentService.{op}")),
        body.as_bytes(),
        Some(("test", SystemTime::now())),
    )
    .await
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.body["__type"], code, "{:?}", r.body);
    assert!(r.body.get("message").is_some(), "{:?}", r.body);
    assert!(
        r.request_id.is_some(),
        "every response carries x-amzn-RequestId"
    );
}

#[tokio::test]
async fn success_shape() {
    let server = Server::start();
    let r = signed(&server, "CreateKey", "{}").await;
    assert_eq!(r.status, 200);
    assert!(r.request_id.is_some());
    let created = r.body["KeyMetadata"]["CreationDate"].as_f64().unwrap();
    assert!(created > 1.6e9, "epoch seconds: {created}");
    let r = signed(&server, "GenerateRandom", r#"{"NumberOfBytes": 16}"#).await;
    assert_eq!(r.status, 200);
    let b64 = r.body["Plaintext"].as_str().unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
            .len(),
        16
    );
}

#[tokio::test]
async fn bad_requests_get_aws_errors_not_500s() {
    let server = Server::start();
    assert_error(
        &signed(&server, "CreateKey", "{not json").await,
        400,
        "SerializationException",
    );
    assert_error(
        &signed(&server, "GenerateRandom", r#"{"NumberOfBytes": "lots"}"#).await,
        400,
        "SerializationException",
    );
    assert_error(
        &signed(&server, "Encrypt", r#"{"KeyId": 5}"#).await,
        400,
        "SerializationException",
    );
    assert_error(
        &signed(
            &server,
            "Encrypt",
            r#"{"KeyId": "alias/x", "Plaintext": "!!not base64!!"}"#,
        )
        .await,
        400,
        "SerializationException",
    );
    assert_error(
        &signed(&server, "Encrypt", r#"[]"#).await,
        400,
        "SerializationException",
    );
    let r = signed(&server, "DescribeKey", "{}").await;
    assert_error(&r, 400, "ValidationException");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("'keyId' failed to satisfy constraint: Member must not be null"));
    let r = signed(&server, "GenerateRandom", r#"{"NumberOfBytes": 1025}"#).await;
    assert_error(&r, 400, "ValidationException");
    assert_eq!(
        r.body["message"],
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
    );
    assert_error(
        &signed(&server, "CreateKey", r#"{"KeySpec": "AES_999"}"#).await,
        400,
        "ValidationException",
    );
    assert_error(
        &signed(&server, "NoSuchThing", "{}").await,
        400,
        "UnknownOperationException",
    );
    assert_error(
        &send(&server, None, b"{}", Some(("test", SystemTime::now()))).await,
        400,
        "UnknownOperationException",
    );
    assert_error(
        &send(
            &server,
            Some("Other.CreateKey"),
            b"{}",
            Some(("test", SystemTime::now())),
        )
        .await,
        400,
        "UnknownOperationException",
    );
    let huge = format!(r#"{{"Description": "{}"}}"#, "a".repeat(600 * 1024));
    assert_error(
        &signed(&server, "CreateKey", &huge).await,
        413,
        "RequestEntityTooLargeException",
    );
    let r = signed(
        &server,
        "CreateKey",
        &format!(r#"{{"Description": "{}"}}"#, "a".repeat(8193)),
    )
    .await;
    assert_error(&r, 400, "ValidationException");
    // After all that, the server is fine.
    assert_eq!(signed(&server, "ListKeys", "{}").await.status, 200);
}

#[tokio::test]
async fn authentication_fails_closed() {
    let server = Server::start();
    let now = SystemTime::now();
    assert_error(
        &send(&server, Some("TrentService.ListKeys"), b"{}", None).await,
        400,
        "MissingAuthenticationTokenException",
    );
    assert_error(
        &send(
            &server,
            Some("TrentService.ListKeys"),
            b"{}",
            Some(("wrong", now)),
        )
        .await,
        400,
        "InvalidSignatureException",
    );
    let stale = send(
        &server,
        Some("TrentService.ListKeys"),
        b"{}",
        Some(("test", now - Duration::from_secs(6 * 60))),
    )
    .await;
    assert_error(&stale, 400, "InvalidSignatureException");
    assert!(stale.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Signature expired"));
    let future = send(
        &server,
        Some("TrentService.ListKeys"),
        b"{}",
        Some(("test", now + Duration::from_secs(6 * 60))),
    )
    .await;
    assert_error(&future, 400, "InvalidSignatureException");
    assert!(future.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Signature not yet current"));
    // Within the skew both ways is fine.
    assert_eq!(
        send(
            &server,
            Some("TrentService.ListKeys"),
            b"{}",
            Some(("test", now - Duration::from_secs(4 * 60)))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            &server,
            Some("TrentService.ListKeys"),
            b"{}",
            Some(("test", now + Duration::from_secs(4 * 60)))
        )
        .await
        .status,
        200
    );

    // Unknown access key and a body changed after signing, through the SDK and by hand.
    let other = server.client_for("us-east-1", "nobody", "test");
    let e = other.list_keys().send().await.unwrap_err();
    assert_eq!(common::code(&e), "UnrecognizedClientException");
    let wrong_secret = server.client_for("us-east-1", "test", "not-the-secret");
    assert_eq!(
        common::code(&wrong_secret.list_keys().send().await.unwrap_err()),
        "InvalidSignatureException"
    );
}

#[tokio::test]
async fn configured_credentials_replace_the_development_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trent.toml");
    std::fs::write(
        &config,
        "[[credentials]]\naccess_key_id = \"AKIAEXAMPLE\"\nsecret_access_key = \"s3cret\"\naccount_id = \"111122223333\"\n",
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()]);
    let dev = server.client();
    assert_eq!(
        common::code(&dev.list_keys().send().await.unwrap_err()),
        "UnrecognizedClientException"
    );
    let kms = server.client_for("us-east-1", "AKIAEXAMPLE", "s3cret");
    let meta = common::created(kms.create_key()).await;
    assert_eq!(meta.aws_account_id(), Some("111122223333"));
    assert!(meta
        .arn()
        .unwrap()
        .starts_with("arn:aws:kms:us-east-1:111122223333:key/"));
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let server = Server::start();
    let r = reqwest::get(format!("{}/health", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{}/nope", server.url)).await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-amzn-requestid").is_some());
    let r = reqwest::get(format!("{}/", server.url)).await.unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    assert_eq!(body["__type"], "UnknownOperationException");
    // Only POST / skips the router (AppService); every other method on / and every other path
    // is the router's, with AWS's error shape.
    let client = reqwest::Client::new();
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::OPTIONS,
    ] {
        let r = client
            .request(method.clone(), format!("{}/", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} /");
        let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
        assert_eq!(body["__type"], "UnknownOperationException", "{method} /");
    }
    let r = client
        .head(format!("{}/", server.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "HEAD /: {}", r.status());
    let r = client
        .post(format!("{}//", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "POST //");
    assert!(r.headers().get("x-amzn-requestid").is_some());
}
