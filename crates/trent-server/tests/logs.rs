//! `--log-format json`: one JSON object per line, a `trent::request` line per request with its
//! facts, and never a secret, plaintext or key material in the log.

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use common::Server;

const SECRET: &str = "log-test-secret-Zq8rV1xT0pLw3nB6";

fn forms(bytes: &[u8]) -> Vec<String> {
    vec![
        String::from_utf8_lossy(bytes).into_owned(),
        base64::engine::general_purpose::STANDARD.encode(bytes),
        hex::encode(bytes),
        hex::encode_upper(bytes),
    ]
}

#[tokio::test]
async fn json_logs_carry_request_facts_and_no_secret_or_material() {
    let mut server = Server::unstarted(&["--log-format", "json"]);
    let config = server.tmp_dir().join("trent.toml");
    std::fs::write(
        &config,
        format!(
            "[[credentials]]\naccess_key_id = \"AKIALOGTEST\"\nsecret_access_key = \"{SECRET}\"\naccount_id = \"{}\"\n",
            common::ACCOUNT
        ),
    )
    .unwrap();
    let log = server.tmp_dir().join("trent.log");
    server.log_file = Some(log.clone());
    server
        .env("TRENT_LOG", "info")
        .env("TRENT_CONFIG", config.to_str().unwrap());
    server.spawn();
    let kms = server.client_for(common::REGION, "AKIALOGTEST", SECRET);

    let id = common::symmetric_key(&kms).await;
    let plaintext = b"plaintext that must never reach a log 7f3a9c";
    let blob = common::encrypt(&kms, &id, plaintext).await;
    common::decrypts_to(&kms, &blob, plaintext).await;
    let data_key = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let data_key_plaintext = data_key.plaintext().unwrap().as_ref().to_vec();
    kms.decrypt()
        .ciphertext_blob(Blob::new(data_key.ciphertext_blob().unwrap().as_ref()))
        .send()
        .await
        .unwrap();
    assert_code!(
        common::decrypt_request(&kms, b"not a ciphertext")
            .send()
            .await,
        "InvalidCiphertextException"
    );
    let root_key = std::fs::read_to_string(server.data_dir().join("root.key")).unwrap();
    server.terminate();

    let text = std::fs::read_to_string(&log).unwrap();
    let mut requests = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["target"] == "trent::request" {
            requests.push(v);
        }
    }
    assert_eq!(requests.len(), 6, "{text}");
    let encrypt = requests
        .iter()
        .find(|r| r["span"]["operation"] == "Encrypt")
        .expect("an Encrypt line");
    assert_eq!(encrypt["outcome"], "ok");
    assert_eq!(encrypt["span"]["dialect"], "aws");
    assert_eq!(encrypt["span"]["principal"], "AKIALOGTEST");
    assert_eq!(encrypt["span"]["account"], common::ACCOUNT);
    assert_eq!(
        encrypt["span"]["key_arn"],
        format!(
            "arn:aws:kms:{}:{}:key/{id}",
            common::REGION,
            common::ACCOUNT
        )
    );
    assert!(encrypt["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        encrypt["span"]["request_id"].as_str().unwrap().len(),
        36,
        "{encrypt}"
    );
    let create = requests
        .iter()
        .find(|r| r["span"]["operation"] == "CreateKey")
        .unwrap();
    assert!(create["span"]["key_arn"].as_str().unwrap().ends_with(&id));
    let refused = requests
        .iter()
        .find(|r| r["outcome"] == "InvalidCiphertextException")
        .expect("the refused Decrypt");
    assert_eq!(refused["span"]["operation"], "Decrypt");

    for (what, bytes) in [
        ("plaintext", plaintext.as_slice()),
        ("data key", &data_key_plaintext),
        ("secret access key", SECRET.as_bytes()),
        ("root key", root_key.trim().as_bytes()),
    ] {
        for form in forms(bytes) {
            assert!(
                !text.contains(&form),
                "the {what} is in the log as {form:?}"
            );
        }
    }
    // Nor the ciphertexts' material: the root key's bytes in any form.
    let root_bytes = hex::decode(root_key.trim()).unwrap();
    for form in forms(&root_bytes) {
        assert!(!text.contains(&form), "the root key is in the log");
    }
}

/// Text lines written anywhere but a terminal carry no colour escape codes, and still one
/// `trent::request` line per request with its facts.
#[tokio::test]
async fn text_logs_in_a_file_are_plain() {
    let mut server = Server::unstarted(&[]);
    let log = server.tmp_dir().join("trent.log");
    server.log_file = Some(log.clone());
    // An empty NO_COLOR is no request for plain text (no-color.org), so the test does not
    // depend on the caller's environment.
    server.env("TRENT_LOG", "info").env("NO_COLOR", "");
    server.spawn();
    let kms = server.client();
    let id = common::symmetric_key(&kms).await;
    common::encrypt(&kms, &id, b"plain").await;
    server.terminate();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "escape codes in the log:\n{text}");
    let line = text
        .lines()
        .find(|l| l.contains("trent::request") && l.contains("operation=\"Encrypt\""))
        .unwrap_or_else(|| panic!("no Encrypt request line:\n{text}"));
    assert!(line.contains("outcome=\"ok\""), "{line}");
    assert!(line.contains(&format!("key/{id}")), "{line}");
}
