//! Known-answer tests: requests exactly as Alibaba's Python SDKs sent them (captured in
//! `shared/reference/alibaba-captures.txt`, fake credentials), plus Alibaba's documented RPC
//! example, then the failure modes.

use super::*;

const AK: &str = "LTAI5tFakeCaptureKeyId";
const SECRET: &str = "FakeCaptureSecret0123456789abcd";
const ACCOUNT: &str = "1234567890123456";

struct Creds(Credential);

impl CredentialStore for Creds {
    fn lookup(&self, id: &str) -> Option<&Credential> {
        (id == self.0.access_key_id).then_some(&self.0)
    }
}

fn creds() -> Creds {
    Creds(Credential {
        access_key_id: AK.into(),
        secret_access_key: trent_crypto::SecretBytes::new(SECRET.as_bytes().to_vec()),
        account_id: ACCOUNT.into(),
        session_token: None,
    })
}

fn at(ts: &str) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(time::parse(ts).unwrap() as u64)
}

struct Captured {
    query: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static [u8],
}

impl Captured {
    fn verify_at(&self, verifier: &Verifier, now: &str) -> Result<Verified, AliyunError> {
        self.verify_with(verifier, &creds(), now)
    }

    fn verify_with(
        &self,
        verifier: &Verifier,
        creds: &Creds,
        now: &str,
    ) -> Result<Verified, AliyunError> {
        let form = self.headers.iter().any(|(n, v)| {
            *n == "content-type" && v.starts_with("application/x-www-form-urlencoded")
        });
        let params = Params::parse(self.query, form.then_some(self.body))?;
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: self.query,
            headers: &self.headers,
            body: self.body,
        };
        verifier.verify(&req, &params, creds, at(now))
    }
}

const UA: &str = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2";
const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn acs3(
    action: &'static str,
    date: &'static str,
    nonce: &'static str,
    auth: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("host", "127.0.0.1:18080"),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-action", action),
        ("user-agent", UA),
        ("x-acs-date", date),
        ("x-acs-signature-nonce", nonce),
        ("accept", "application/json"),
        ("x-acs-content-sha256", EMPTY_SHA),
        ("x-acs-credentials-provider", "static_ak"),
        ("Authorization", auth),
    ]
}

/// Section 1, DescribeKey: the canonical request and signature printed in the capture.
fn acs3_describe() -> Captured {
    Captured {
        query: "KeyId=key-hzz6ac5c6dcb1da4d278c986",
        headers: acs3(
            "DescribeKey",
            "2026-11-23T06:48:34Z",
            "b55ee294e76f7ab4f5a166dd1cc27dd7",
            "ACS3-HMAC-SHA256 Credential=LTAI5tFakeCaptureKeyId,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=d47fdda56e78018cd8a86be4b925c5f02bb65e1ce6bd09a7d9d16e94c5a96060",
        ),
        body: b"",
    }
}

#[test]
fn acs3_known_answer_canonical_request() {
    let c = acs3_describe();
    let params = Params::parse(c.query, None).unwrap();
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: c.query,
        headers: &c.headers,
        body: b"",
    };
    let canonical = acs_canonical_request(
        &req,
        &params,
        "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version",
        EMPTY_SHA,
    )
    .unwrap();
    assert_eq!(
        hex::encode(sha256(canonical.as_bytes())),
        "ec0f50d8f4774ded537a04a0595f81019fafd53f6028d70a056f7225737fb002"
    );
}

#[test]
fn acs3_captured_requests_verify() {
    let v = Verifier::default();
    let got = acs3_describe()
        .verify_at(&v, "2026-11-23T06:50:00Z")
        .unwrap();
    assert_eq!(got.action, "DescribeKey");
    assert_eq!(got.version, "2016-01-20");
    assert_eq!(got.account_id, ACCOUNT);

    // CreateKey: spaces, reserved characters and CJK in the query, Python's '+' for spaces.
    let create = Captured {
        query: "Description=capture+test+key+~%2A%21%27%28%29+%2F%2B%26%3D%E4%B8%AD%E6%96%87&EnableAutomaticRotation=False&KeySpec=Aliyun_AES_256&KeyUsage=ENCRYPT%2FDECRYPT&Tags=%5B%7B%22TagKey%22%3A%22env%22%2C%22TagValue%22%3A%22test%22%7D%5D",
        headers: acs3(
            "CreateKey",
            "2026-11-23T06:48:34Z",
            "ddbafe66b6e1d7e2d2d3c4ecd3307607",
            "ACS3-HMAC-SHA256 Credential=LTAI5tFakeCaptureKeyId,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=1e5f047fdacdca88efac63e2a7bec488030d4bc8dcd236537df4569df4e44811",
        ),
        body: b"",
    };
    create.verify_at(&v, "2026-11-23T06:48:40Z").unwrap();

    // Decrypt with a form body (Recipient): the body is covered by its hash.
    let mut headers = acs3(
        "Decrypt",
        "2026-11-23T06:48:57Z",
        "3541f1582f4aaaf0e5640874fc62a5d4",
        "ACS3-HMAC-SHA256 Credential=LTAI5tFakeCaptureKeyId,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=2be5f20e0db1c46ba62061986eff7cfed790553969e7ced9b3dad93aede8db74",
    );
    headers.retain(|(n, _)| *n != "x-acs-content-sha256");
    headers.push((
        "x-acs-content-sha256",
        "e64ac8bfa5687a5f9da17a2ec121d843dbae5025b7bdcb8aa5fa43d317fd67eb",
    ));
    headers.push(("content-type", "application/x-www-form-urlencoded"));
    let decrypt = Captured {
        query: "CiphertextBlob=eyJrIjogImtleS1oenplNmY0YWRlNTUyM2Y0ODI0OTkxZmIiLCAidiI6ICIwZmJjNjk2Yy1hZjI2LTQyMzktYWUzNS02OTY5MTViNGFiYjQiLCAicCI6ICJhR2s9IiwgImMiOiB7fX0%3D",
        headers,
        body: b"Recipient=%7B%22AttestationDocument%22%3A%22x+y%22%2C%22KeyEncryptionAlgorithm%22%3A%22RSAES_OAEP_SHA_256%22%7D",
    };
    decrypt.verify_at(&v, "2026-11-23T06:48:57Z").unwrap();
}

#[test]
fn acs4_captured_request_verifies_and_carries_its_region() {
    let c = Captured {
        query: "KeyId=key-hzzd21c4d7a76384c8c8752d",
        headers: vec![
            ("host", "127.0.0.1:18080"),
            ("x-acs-version", "2016-01-20"),
            ("x-acs-date", "2026-11-23T06:48:41Z"),
            ("x-acs-signature-nonce", "5ac14c304503adaa7c6c5e73d852eeef"),
            ("x-acs-action", "DescribeKey"),
            ("x-acs-content-sha256", EMPTY_SHA),
            ("x-acs-credentials-provider", "static_ak"),
            ("Authorization", "ACS4-HMAC-SHA256 Credential=LTAI5tFakeCaptureKeyId/20261123/cn-hangzhou/Kms/aliyun_v4_request,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=2c3aa27d5b6b8998d05a17cf8c00a5e814071cc8c9a1758c6d3de85396ddce40"),
        ],
        body: b"",
    };
    let got = c
        .verify_at(&Verifier::default(), "2026-11-23T06:48:41Z")
        .unwrap();
    assert_eq!(got.region.as_deref(), Some("cn-hangzhou"));
}

#[test]
fn rpc_known_answer_from_alibabas_documentation() {
    let params = Params::parse(
        "Action=CreateKey&SignatureVersion=1.0&Format=json&Version=2016-01-20&AccessKeyId=testid&SignatureMethod=HMAC-SHA1&Timestamp=2016-03-28T03%3A13%3A08Z",
        None,
    )
    .unwrap();
    let sts = rpc_string_to_sign("GET", &params);
    assert_eq!(sts, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DCreateKey%26Format%3Djson%26SignatureMethod%3DHMAC-SHA1%26SignatureVersion%3D1.0%26Timestamp%3D2016-03-28T03%253A13%253A08Z%26Version%3D2016-01-20");
    assert_eq!(
        rpc_signature(b"testsecret", &sts),
        "41wk2SSX1GJh7fwnc5eqOfiJPFg="
    );
}

fn legacy_describe() -> Captured {
    // Legacy aliyun-python-sdk-kms: RegionId, Format=JSON and an empty, signed SignatureType.
    Captured {
        query: "KeyId=key-hzz6dac1ae40c134d4ab3463&Version=2016-01-20&Action=DescribeKey&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T06%3A48%3A42Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=aa81c689d185c49eb6bf83c1e9070054&AccessKeyId=LTAI5tFakeCaptureKeyId&Signature=xzBtEbtZGO6tz%2BB6h9cecDd56eo%3D",
        headers: vec![("Host", "127.0.0.1:18080"), ("x-acs-action", "DescribeKey")],
        body: b"",
    }
}

#[test]
fn rpc_captured_requests_verify() {
    let v = Verifier::default();
    let got = legacy_describe()
        .verify_at(&v, "2026-11-23T06:48:42Z")
        .unwrap();
    assert_eq!((got.action.as_str(), got.region), ("DescribeKey", None));
    // The current SDK with signature_algorithm='v2': CJK and reserved characters.
    let tea_v2 = Captured {
        query: "Action=CreateKey&Format=json&Version=2016-01-20&Timestamp=2026-11-23T06%3A48%3A41Z&SignatureNonce=1e214016ab453f547931ab9366b7c69c&Description=capture+test+key+~%2A%21%27%28%29+%2F%2B%26%3D%E4%B8%AD%E6%96%87&EnableAutomaticRotation=False&KeySpec=Aliyun_AES_256&KeyUsage=ENCRYPT%2FDECRYPT&Tags=%5B%7B%22TagKey%22%3A%22env%22%2C%22TagValue%22%3A%22test%22%7D%5D&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tFakeCaptureKeyId&Signature=AD0%2FmlFovMnH4j1O9FT%2Fic%2B4WME%3D",
        headers: vec![("host", "127.0.0.1:18080")],
        body: b"",
    };
    tea_v2.verify_at(&v, "2026-11-23T06:48:41Z").unwrap();
}

#[test]
fn replayed_nonce_is_refused() {
    let v = Verifier::default();
    legacy_describe()
        .verify_at(&v, "2026-11-23T06:48:42Z")
        .unwrap();
    let e = legacy_describe()
        .verify_at(&v, "2026-11-23T06:48:43Z")
        .unwrap_err();
    assert_eq!((e.status, e.code), (400, "SignatureNonceUsed"));
    // Up to the last second its time passes (900 s after it was signed), and no later.
    let e = legacy_describe()
        .verify_at(&v, "2026-11-23T07:03:42Z")
        .unwrap_err();
    assert_eq!((e.status, e.code), (400, "SignatureNonceUsed"));
    let e = legacy_describe()
        .verify_at(&v, "2026-11-23T07:03:43Z")
        .unwrap_err();
    assert_eq!(e.code, "InvalidTimeStamp.Expired");
    let e = acs3_describe().verify_at(&v, "2026-11-23T06:48:42Z");
    assert!(e.is_ok());
    assert_eq!(
        acs3_describe()
            .verify_at(&v, "2026-11-23T06:48:42Z")
            .unwrap_err()
            .code,
        "SignatureNonceUsed"
    );
}

#[test]
fn nonces_are_forgotten_only_after_the_window() {
    let mut cache = NonceCache::default();
    let a = nonce_key("ak", "a");
    assert_ne!(a, nonce_key("ak2", "a"));
    cache.admit(a, 0, 10).unwrap();
    assert!(cache.admit(a, 9, 19).is_err());
    cache.admit(a, 10, 20).unwrap();
    assert_eq!(cache.seen.len(), 1);
    assert_eq!(cache.held.len(), 1);
}

/// Once the cache is half full, a credential holding more than its share is throttled and the
/// others go on; its share comes back as its nonces expire. Alone, a credential may use more.
#[test]
fn one_credential_cannot_fill_the_nonce_cache_for_all() {
    let mut cache = NonceCache::with_limits(10, 4);
    for n in 0..2 {
        cache
            .admit(nonce_key("other", &n.to_string()), 0, 101)
            .unwrap();
    }
    for n in 0..4 {
        cache
            .admit(nonce_key("greedy", &n.to_string()), 0, 100)
            .unwrap();
    }
    let e = cache.admit(nonce_key("greedy", "4"), 1, 101).unwrap_err();
    assert_eq!((e.status, e.code), (400, "Throttling"));
    cache.admit(nonce_key("other", "2"), 1, 101).unwrap();
    // Greedy's first four expire at 100, before the others' that came first: it may sign
    // again.
    cache.admit(nonce_key("greedy", "5"), 100, 200).unwrap();
    assert_eq!(cache.held[&nonce_key("greedy", "").1], 1);
    // A credential alone is held back only when the cache is half full, and the whole cache
    // keeps its own bound.
    let mut alone = NonceCache::with_limits(10, 2);
    for n in 0..5 {
        alone.admit(nonce_key("a", &n.to_string()), 0, 10).unwrap();
    }
    assert_eq!(
        alone.admit(nonce_key("a", "5"), 0, 10).unwrap_err().code,
        "Throttling"
    );
    let mut small = NonceCache::with_limits(2, 2);
    small.admit(nonce_key("a", "1"), 0, 10).unwrap();
    small.admit(nonce_key("b", "1"), 0, 10).unwrap();
    assert_eq!(
        small.admit(nonce_key("c", "1"), 0, 10).unwrap_err().code,
        "Throttling"
    );
}

#[test]
fn stale_and_future_times_are_refused_both_ways() {
    for now in ["2026-11-23T07:03:43Z", "2026-11-23T06:33:41Z"] {
        let e = legacy_describe()
            .verify_at(&Verifier::default(), now)
            .unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (400, "InvalidTimeStamp.Expired"),
            "{now}"
        );
    }
    // Just inside the window on either side.
    legacy_describe()
        .verify_at(&Verifier::default(), "2026-11-23T07:03:42Z")
        .unwrap();
    legacy_describe()
        .verify_at(&Verifier::default(), "2026-11-23T06:33:42Z")
        .unwrap();
}

/// A credential configured with a session token is a temporary AWS credential, usable only
/// with its token, which this dialect does not take: refused in both schemes, signature valid
/// or not.
#[test]
fn a_credential_with_a_session_token_is_refused() {
    let mut temporary = creds();
    temporary.0.session_token = Some(trent_crypto::SecretBytes::new(b"token".to_vec()));
    for (c, now) in [
        (legacy_describe(), "2026-11-23T06:48:42Z"),
        (acs3_describe(), "2026-11-23T06:50:00Z"),
    ] {
        c.verify_at(&Verifier::default(), now).unwrap();
        let e = c
            .verify_with(&Verifier::default(), &temporary, now)
            .unwrap_err();
        assert_eq!((e.status, e.code), (400, "IncompleteSignature"));
        assert_eq!(e.message, ACCESS_KEYS_ONLY);
    }
}

#[test]
fn tampering_and_unknown_keys_are_refused() {
    let v = Verifier::default();
    let mut c = legacy_describe();
    c.query = "KeyId=key-other&Version=2016-01-20&Action=DescribeKey&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T06%3A48%3A42Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=aa81c689d185c49eb6bf83c1e9070054&AccessKeyId=LTAI5tFakeCaptureKeyId&Signature=xzBtEbtZGO6tz%2BB6h9cecDd56eo%3D";
    assert_eq!(
        c.verify_at(&v, "2026-11-23T06:48:42Z").unwrap_err().code,
        "SignatureDoesNotMatch"
    );

    let mut c = acs3_describe();
    c.headers.retain(|(n, _)| *n != "x-acs-action");
    c.headers.push(("x-acs-action", "DisableKey"));
    assert_eq!(
        c.verify_at(&v, "2026-11-23T06:48:42Z").unwrap_err().code,
        "SignatureDoesNotMatch"
    );

    // A body the signature's hash does not cover.
    let mut c = acs3_describe();
    c.body = b"KeyId=x";
    assert_eq!(
        c.verify_at(&v, "2026-11-23T06:48:42Z").unwrap_err().code,
        "SignatureDoesNotMatch"
    );

    let mut c = legacy_describe();
    c.query = "KeyId=key-hzz6dac1ae40c134d4ab3463&Version=2016-01-20&Action=DescribeKey&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T06%3A48%3A42Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=aa81c689d185c49eb6bf83c1e9070054&AccessKeyId=someone-else&Signature=xzBtEbtZGO6tz%2BB6h9cecDd56eo%3D";
    let e = c.verify_at(&v, "2026-11-23T06:48:42Z").unwrap_err();
    assert_eq!((e.status, e.code), (404, "InvalidAccessKeyId.NotFound"));
}

#[test]
fn unsigned_or_underspecified_requests_are_refused() {
    let v = Verifier::default();
    let unsigned = Captured {
        query: "Action=DescribeKey&KeyId=x",
        headers: vec![],
        body: b"",
    };
    assert_eq!(
        unsigned
            .verify_at(&v, "2026-11-23T06:48:42Z")
            .unwrap_err()
            .code,
        "IncompleteSignature"
    );

    // The host (and the other required headers) must be signed.
    let mut c = acs3_describe();
    for (n, v) in c.headers.iter_mut() {
        if *n == "Authorization" {
            *v = "ACS3-HMAC-SHA256 Credential=LTAI5tFakeCaptureKeyId,SignedHeaders=x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=00";
        }
    }
    assert_eq!(
        c.verify_at(&v, "2026-11-23T06:48:42Z").unwrap_err().code,
        "IncompleteSignature"
    );

    let no_nonce = Captured {
        query: "Action=DescribeKey&Version=2016-01-20&Format=JSON&Timestamp=2026-11-23T06%3A48%3A42Z&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tFakeCaptureKeyId&Signature=x",
        headers: vec![],
        body: b"",
    };
    assert_eq!(
        no_nonce
            .verify_at(&v, "2026-11-23T06:48:42Z")
            .unwrap_err()
            .code,
        "MissingParameter"
    );
}

#[test]
fn a_repeated_action_or_host_header_is_refused() {
    let v = Verifier::default();
    for (name, value) in [("x-acs-action", "DisableKey"), ("host", "other.example")] {
        let mut c = acs3_describe();
        c.headers.push((name, value));
        let err = c.verify_at(&v, "2026-11-23T06:48:42Z").unwrap_err();
        assert!(
            matches!(err.code, "IncompleteSignature" | "SignatureDoesNotMatch"),
            "{name}: {err:?}"
        );
    }
}
