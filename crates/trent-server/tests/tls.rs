//! HTTPS: `trent dev-cert` writes a CA and a server certificate; `trent serve --tls-cert/--tls-key`
//! serves them to the official SDK; SIGHUP swaps the certificate for new connections without
//! dropping open ones.

mod common;

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use common::{Server, REGION};

fn dev_cert(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["dev-cert", "--out"])
        .arg(dir)
        .output()
        .expect("run trent dev-cert");
    assert!(out.status.success(), "{out:?}");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
}

/// A client that trusts exactly `ca` (no system roots).
fn client_trusting(url: &str, ca: &Path) -> aws_sdk_kms::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(
                    TrustStore::empty().with_pem_certificate(std::fs::read(ca).unwrap()),
                )
                .build()
                .unwrap(),
        )
        .build_https();
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

#[tokio::test]
async fn the_sdk_talks_https_to_a_dev_cert_and_sighup_swaps_the_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (first, second) = (certs.path().join("first"), certs.path().join("second"));
    dev_cert(&first);
    dev_cert(&second);
    let live = certs.path().join("live");
    std::fs::create_dir(&live).unwrap();
    std::fs::copy(first.join("cert.pem"), live.join("cert.pem")).unwrap();
    std::fs::copy(first.join("key.pem"), live.join("key.pem")).unwrap();

    let cert = live.join("cert.pem");
    let key = live.join("key.pem");
    let server = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let localhost = server.url.replace("127.0.0.1", "localhost");

    // Both names the certificate covers work.
    let kms = client_trusting(&server.url, &first.join("ca.pem"));
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let by_name = client_trusting(&localhost, &first.join("ca.pem"));
    let blob = by_name
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"over tls".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"over tls");

    // A client that does not trust the CA refuses the server.
    let stranger = client_trusting(&server.url, &second.join("ca.pem"));
    assert!(stranger.list_keys().send().await.is_err());

    // Plain HTTP to the TLS port gets nowhere, and the server goes on serving.
    let plain_http = server.url.replace("https://", "http://");
    let answer = reqwest::Client::new().post(&plain_http).send().await;
    assert!(answer.is_err(), "plain HTTP was answered: {answer:?}");

    // Swap the files and SIGHUP: new connections get the new certificate...
    std::fs::copy(second.join("cert.pem"), &cert).unwrap();
    std::fs::copy(second.join("key.pem"), &key).unwrap();
    let pid = server.pid().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let mut swapped = false;
    for _ in 0..50 {
        let fresh = client_trusting(&server.url, &second.join("ca.pem"));
        if fresh.list_keys().send().await.is_ok() {
            swapped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(swapped, "the reloaded certificate was never served");
    let old_ca_fresh = client_trusting(&server.url, &first.join("ca.pem"));
    assert!(old_ca_fresh.list_keys().send().await.is_err());
    // ...while the connection `kms` opened under the old certificate is still served (a new
    // handshake would fail: it trusts only the first CA).
    kms.describe_key().key_id(&key_id).send().await.unwrap();
}

#[tokio::test]
async fn a_bad_reload_keeps_the_old_certificate() {
    let certs = tempfile::tempdir().unwrap();
    dev_cert(certs.path());
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let server = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    std::fs::write(&cert, "not a certificate").unwrap();
    Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let kms = client_trusting(&server.url, &certs.path().join("ca.pem"));
    kms.list_keys().send().await.unwrap();
}

#[test]
fn serve_refuses_a_certificate_without_its_key() {
    let certs = tempfile::tempdir().unwrap();
    dev_cert(certs.path());
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(certs.path().join("data"))
        .arg("--tls-cert")
        .arg(certs.path().join("cert.pem"))
        .env_remove("TRENT_TLS_KEY")
        .env_remove("TRENT_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `aws:SecureTransport` is true over Trent's TLS listener and false over plain HTTP: a key
/// policy that denies Encrypt without TLS lets the SDK encrypt over HTTPS and refuses it over
/// HTTP.
#[tokio::test]
async fn secure_transport_is_true_over_tls_only() {
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
         "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    async fn encrypt_under_the_policy(kms: &aws_sdk_kms::Client) -> Result<(), String> {
        let key = kms.create_key().policy(POLICY).send().await.unwrap();
        let key_id = key.key_metadata().unwrap().key_id();
        kms.encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| common::code(&e))
    }

    let certs = tempfile::tempdir().unwrap();
    dev_cert(certs.path());
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let tls = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let over_tls = client_trusting(&tls.url, &certs.path().join("ca.pem"));
    assert_eq!(encrypt_under_the_policy(&over_tls).await, Ok(()));

    let (_plain, over_http) = common::start();
    assert_eq!(
        encrypt_under_the_policy(&over_http).await,
        Err("AccessDeniedException".to_owned())
    );
}
