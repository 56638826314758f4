//! Entry points for the fuzz targets (`fuzz/`) and for the test that replays their checked-in
//! inputs on stable Rust (`tests/fuzz_corpus.rs`): each takes arbitrary bytes and drives one
//! parser the way a request would, over an in-memory store.
//!
//! The property checked is the project's rule for bad input: an answer in the protocol's own
//! shape, never a panic and never an internal error. Not part of the server's interface.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use base64::Engine;
use trent_aws::sigv4::{Credential, SignedRequest};
use trent_core::clock::SystemClock;
use trent_core::engine::{Caller, Kms};
use trent_core::state::Dialect;
use trent_core::Scope;
use trent_crypto::{AeadKey, SecretBytes, AES_256_KEY_LEN};

use crate::config::CredentialConfig;
use crate::Credentials;

struct Fixture {
    kms: Kms,
    aws: Caller,
    aliyun: Caller,
    credentials: Credentials,
    verifier: trent_aws::sigv4::Verifier,
    aliyun_verifier: trent_aliyun::Verifier,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = trent_store::SqliteStore::open_in_memory().expect("in-memory store");
        let root = SecretBytes::random(AES_256_KEY_LEN).expect("random root key");
        let root = AeadKey::new(&root).expect("root key");
        let scope = Scope::new("000000000000", "us-east-1");
        let caller = |dialect| Caller {
            scope: scope.clone(),
            access_key_id: "test".into(),
            identity: Arc::new(trent_core::principal::Identity::root("000000000000")),
            dialect,
            connection: Default::default(),
            audit: None,
        };
        Fixture {
            kms: Kms::new(Arc::new(store), root, Arc::new(SystemClock)),
            aws: caller(Dialect::Aws),
            aliyun: caller(Dialect::Aliyun),
            credentials: Credentials::new(&[CredentialConfig {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                account_id: "000000000000".into(),
                principal: None,
                session_token: None,
                policy: None,
                policy_file: None,
            }])
            .expect("the development credential"),
            verifier: trent_aws::verifier(),
            aliyun_verifier: Default::default(),
        }
    })
}

/// The first byte picks one of `n` things; the rest is the input.
fn pick(data: &[u8], n: usize) -> (usize, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (usize::from(*first) % n, rest),
        None => (0, data),
    }
}

/// The AWS JSON decode: any operation, any body, through decoding, validation and the engine.
pub fn aws_json(data: &[u8]) {
    let f = fixture();
    let (i, body) = pick(data, trent_aws::Operation::ALL.len());
    let op = trent_aws::Operation::ALL[i];
    let ctx = trent_aws::Ctx {
        kms: &f.kms,
        caller: &f.aws,
    };
    if let Err(e) = trent_aws::dispatch(op, &ctx, body) {
        assert!(
            !e.is_internal(),
            "{op:?}: internal error for client input: {e:?}"
        );
    }
}

/// The ciphertext-blob codec: the bytes as a `Decrypt` request's `CiphertextBlob`.
pub fn ciphertext_blob(data: &[u8]) {
    if let Some(blob) = trent_core::blob::decode(data) {
        let header = trent_core::blob::header(&blob.key_id, blob.material_version);
        assert_eq!(trent_core::blob::encode(&header, blob.sealed), data);
    }
    let body = format!(
        "{{\"CiphertextBlob\":\"{}\"}}",
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    let f = fixture();
    let ctx = trent_aws::Ctx {
        kms: &f.kms,
        caller: &f.aws,
    };
    if let Err(e) = trent_aws::dispatch(trent_aws::Operation::Decrypt, &ctx, body.as_bytes()) {
        assert!(!e.is_internal(), "Decrypt: internal error: {e:?}");
    }
}

/// Splits `text` into a request: a first line of `METHOD path?query`, then `name: value`
/// header lines, a blank line and the body.
fn request(text: &str) -> (String, String, String, Vec<(String, String)>, Vec<u8>) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let (method, target) = first.split_once(' ').unwrap_or(("POST", first));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    (
        method.to_owned(),
        path.to_owned(),
        query.to_owned(),
        headers,
        body.as_bytes().to_vec(),
    )
}

/// The SigV4 parser and verifier on an arbitrary request.
pub fn sigv4(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (method, path, query, headers, body) = request(&text);
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = SignedRequest {
        method: &method,
        path: &path,
        query: &query,
        headers: &pairs,
        body: &body,
    };
    let f = fixture();
    let _ = f
        .verifier
        .verify(&req, &f.credentials.aws(), "kms", SystemTime::now());
    // The signer must cope with whatever it is given too.
    let cred = Credential {
        access_key_id: "test".into(),
        secret_access_key: SecretBytes::new(b"test".to_vec()),
        account_id: "000000000000".into(),
        session_token: None,
    };
    let _ = trent_aws::sigv4::sign(&req, &cred, "us-east-1", "kms", "20150830T123600Z");
}

/// The Alibaba parameter parser (query and form body, split at the first NUL), its signature
/// check, and the operation the first byte picks.
pub fn aliyun_params(data: &[u8]) {
    let (i, rest) = pick(data, trent_aliyun::Action::ALL.len());
    let (query, body) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let query = String::from_utf8_lossy(query);
    let Ok(params) = trent_aliyun::Params::parse(&query, Some(body)) else {
        return;
    };
    let f = fixture();
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: &query,
        headers: &[],
        body,
    };
    let _ = f
        .aliyun_verifier
        .verify(&req, &params, &f.credentials, SystemTime::now());
    let action = trent_aliyun::Action::ALL[i];
    let ctx = trent_aliyun::Ctx {
        kms: &f.kms,
        caller: &f.aliyun,
    };
    if let Err(e) = trent_aliyun::dispatch(action, &ctx, &params, "FUZZ") {
        assert!(!e.is_internal(), "{action:?}: internal error: {e:?}");
    }
}
