//! What an attacker, a careless operator and a stalled client can do to Trent, kept as a lasting
//! part of the suite: signature tricks, malformed and oversized requests, slow clients,
//! concurrent writers on one key, a second process on one data directory, wrong root keys.
//!
//! Requests here go over raw TCP where an HTTP client would tidy them up (repeated headers,
//! lying `Content-Length`, stalls).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Server;
use trent_aws::sigv4::{self, Credential, SignedRequest};
use trent_crypto::SecretBytes;

/// The server's `host:port`.
fn authority(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// A request whose `signed` headers (plus a fresh `x-amz-date`) are covered by a SigV4 signature
/// of the development credential, followed by `unsigned` headers the signature does not list.
fn signed_request(
    signed: &[(&str, &str)],
    unsigned: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let date = sigv4::format_amz_date(secs);
    let mut headers: Vec<(&str, &str)> = signed.to_vec();
    headers.push(("x-amz-date", &date));
    let cred = Credential {
        access_key_id: "test".into(),
        secret_access_key: SecretBytes::new(b"test".to_vec()),
        account_id: common::ACCOUNT.into(),
        session_token: None,
    };
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body,
    };
    let auth = sigv4::sign(&request, &cred, common::REGION, "kms", &date);
    headers
        .iter()
        .chain(unsigned)
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .chain([("authorization".to_owned(), auth)])
        .collect()
}

/// Sends `POST /` with exactly these headers (plus `content-length`) and this body over a fresh
/// connection; returns the status and the JSON body.
fn send_raw(
    server: &Server,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(authority(server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write_request(&mut stream, headers, body).unwrap();
    read_response(&mut stream)
}

/// Writes `POST /` with these headers (plus `content-length`, and `connection: close`) and body.
fn write_request(
    stream: &mut TcpStream,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = String::from("POST / HTTP/1.1\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

/// Reads one response to the end of the connection.
fn read_response(stream: &mut TcpStream) -> (u16, serde_json::Value) {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or(serde_json::Value::Null))
        .unwrap_or(serde_json::Value::Null);
    (status, body)
}

const JSON: (&str, &str) = ("content-type", "application/x-amz-json-1.1");

// ---- 1. the operation is bound to the signature -----------------------------------------------

#[tokio::test]
async fn an_unsigned_target_cannot_turn_a_read_into_a_write() {
    let (server, kms) = common::start();
    let key = common::symmetric_key(&kms).await;
    let host = authority(&server);
    let body = format!("{{\"KeyId\":\"{key}\"}}");
    // A DescribeKey whose signature covers host, date and body but not the target: replayed with
    // a target the attacker chooses.
    for target in ["TrentService.DisableKey", "TrentService.CreateKey"] {
        let headers = signed_request(
            &[("host", &host), JSON],
            &[("x-amz-target", target)],
            body.as_bytes(),
        );
        let (status, reply) = send_raw(&server, &headers, body.as_bytes());
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["__type"], "IncompleteSignatureException", "{reply}");
        assert_eq!(
            reply["message"],
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
        );
    }
    assert_eq!(
        common::key_state(&kms, &key).await,
        aws_sdk_kms::types::KeyState::Enabled
    );
    let keys = kms.list_keys().send().await.unwrap();
    assert_eq!(keys.keys().len(), 1, "no key was created");
}

#[tokio::test]
async fn repeated_target_or_host_headers_are_refused() {
    let (server, kms) = common::start();
    let key = common::symmetric_key(&kms).await;
    let host = authority(&server);
    let body = format!("{{\"KeyId\":\"{key}\"}}");
    // Both targets signed: the signature covers "DescribeKey,DisableKey"; neither may run.
    let headers = signed_request(
        &[
            ("host", &host),
            JSON,
            ("x-amz-target", "TrentService.DisableKey"),
            ("x-amz-target", "TrentService.DescribeKey"),
        ],
        &[],
        body.as_bytes(),
    );
    let (status, reply) = send_raw(&server, &headers, body.as_bytes());
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["__type"], "IncompleteSignatureException", "{reply}");
    assert_eq!(
        common::key_state(&kms, &key).await,
        aws_sdk_kms::types::KeyState::Enabled
    );
    // Two Host headers: HTTP/1.1 requires a 400, here in AWS's shape.
    let headers = signed_request(
        &[
            ("host", &host),
            ("host", "other.example"),
            JSON,
            ("x-amz-target", "TrentService.DescribeKey"),
        ],
        &[],
        body.as_bytes(),
    );
    let (status, reply) = send_raw(&server, &headers, body.as_bytes());
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["__type"], "MalformedHttpRequestException", "{reply}");
}

#[test]
fn alibaba_requests_with_two_hosts_or_a_huge_body_are_refused_in_alibaba_shape() {
    let server = Server::start();
    let host = authority(&server);
    let headers = vec![
        ("host".to_owned(), host.clone()),
        ("host".to_owned(), "other.example".to_owned()),
        ("x-acs-action".to_owned(), "DescribeKey".to_owned()),
        ("x-acs-version".to_owned(), "2016-01-20".to_owned()),
    ];
    let (status, reply) = send_raw(&server, &headers, b"");
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["Code"], "InvalidParameter", "{reply}");
    let mut stream = TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /?Action=ListKeys HTTP/1.1\r\nhost: {host}\r\ncontent-length: 10737418240\r\n\r\n"
    )
    .unwrap();
    let (status, reply) = read_response(&mut stream);
    assert_eq!(status, 413, "{reply}");
    assert!(reply["Code"].is_string(), "{reply}");
}

// ---- 5. oversized and slow requests -----------------------------------------------------------

#[test]
fn a_huge_declared_length_is_refused_at_once() {
    let server = Server::start();
    let host = authority(&server);
    let mut stream = TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST / HTTP/1.1\r\nhost: {host}\r\nx-amz-target: TrentService.ListKeys\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 10737418240\r\n\r\n{{"
    )
    .unwrap();
    let (status, reply) = read_response(&mut stream);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["__type"], "RequestEntityTooLargeException", "{reply}");
}

/// RFC 9110 allows bytes other than visible ASCII in a header value: an unsigned header holding
/// some (here a user agent naming "café") does not stop a correctly signed request, while a
/// header Trent reads must still be text.
#[tokio::test]
async fn an_unsigned_header_that_is_not_ascii_does_not_refuse_a_signed_request() {
    let (server, kms) = common::start();
    let key = common::symmetric_key(&kms).await;
    let host = authority(&server);
    let body = format!("{{\"KeyId\":\"{key}\"}}");
    let target = ("x-amz-target", "TrentService.DescribeKey");
    let headers = signed_request(
        &[("host", &host), JSON, target],
        &[("user-agent", "app/café")],
        body.as_bytes(),
    );
    let (status, reply) = send_raw(&server, &headers, body.as_bytes());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["KeyMetadata"]["KeyId"], key.as_str(), "{reply}");
    let headers = signed_request(
        &[("host", &host), JSON, target],
        &[("x-amz-security-token", "café")],
        body.as_bytes(),
    );
    let (status, reply) = send_raw(&server, &headers, body.as_bytes());
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["__type"], "IncompleteSignatureException", "{reply}");
    assert_eq!(
        reply["message"], "Header x-amz-security-token is not valid text.",
        "{reply}"
    );
}

/// A connection to the server from the loopback address `127.0.0.<from>` (all of 127/8 is the
/// loopback), blocking, as the other raw connections here.
async fn connect_from(server: &Server, from: u8) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, from], 0)))
        .unwrap();
    let stream = socket
        .connect(authority(server).parse().unwrap())
        .await
        .unwrap()
        .into_std()
        .unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// A connection from `127.0.0.<from>` that sends 448 KiB of a declared 500 KiB body and stalls:
/// 432 KiB beyond the part every body may hold.
async fn stalled_body(server: &Server, from: u8) -> TcpStream {
    let host = authority(server);
    let mut s = connect_from(server, from).await;
    write!(
        s,
        "POST / HTTP/1.1\r\nhost: {host}\r\nx-amz-target: TrentService.ListKeys\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 512000\r\n\r\n"
    )
    .unwrap();
    // A refused body is no longer read: its writer gives up rather than wait.
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = s.write_all(&[b' '; 448 * 1024]);
    s
}

/// How many of `stalled` were answered as throttled once the server has read what they sent
/// (`expected` of them, or what there is after 10 s); every answer must be that one.
fn throttled(stalled: &mut [TcpStream], expected: usize) -> usize {
    let mut answers = vec![String::new(); stalled.len()];
    let count = |answers: &[String]| {
        answers
            .iter()
            .filter(|a| a.contains("ThrottlingException"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && count(&answers) < expected {
        for (s, answer) in stalled.iter_mut().zip(&mut answers) {
            s.set_nonblocking(true).unwrap();
            let mut buf = vec![0; 4096];
            if let Ok(n) = s.read(&mut buf) {
                answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for answer in answers.iter().filter(|a| !a.is_empty()) {
        assert!(
            answer.starts_with("HTTP/1.1 400") && answer.contains("ThrottlingException"),
            "{answer}"
        );
    }
    count(&answers)
}

/// Clients that send most of a large body and then stall hold a shared budget (64 MiB beyond
/// 16 KiB a body), not half a MiB each, and one client address at most an eighth of it. Once a
/// client's part is spent, its next such body is refused at once as throttled (which the SDKs
/// retry) while another client's large body is still read; once the whole budget is spent,
/// every client's is. Ordinary requests are served throughout.
#[tokio::test]
async fn stalled_large_bodies_draw_on_a_shared_budget() {
    let (server, kms) = common::start();
    // Each stalled body holds 500,000 - 16,384 bytes: 16 fit in one client's 8 MiB, 135 in all.
    let mut first = vec![];
    for _ in 0..40 {
        first.push(stalled_body(&server, 1).await);
    }
    kms.list_keys().send().await.unwrap();
    assert_eq!(
        throttled(&mut first, 24),
        24,
        "one client's part is 16 bodies"
    );

    // Another client's large, signed body is read and answered.
    let host = authority(&server);
    // 300 KiB: more than the budget has left at the end (200,704 bytes).
    let body = format!("{{\"Limit\":10{}}}", " ".repeat(300 * 1024));
    let headers = signed_request(
        &[
            ("host", &host),
            JSON,
            ("x-amz-target", "TrentService.ListKeys"),
        ],
        &[],
        body.as_bytes(),
    );
    let large = |from: u8| {
        let (server, headers, body) = (&server, &headers, &body);
        async move {
            let mut s = connect_from(server, from).await;
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            // A refused body is no longer read: the answer comes before all of it is sent.
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = write_request(&mut s, headers, body.as_bytes());
            read_response(&mut s)
        }
    };
    let (status, reply) = large(2).await;
    assert_eq!(status, 200, "{reply}");

    // Ten more clients, 14 bodies each: 140 more than the 119 the budget has left.
    let mut rest = vec![];
    for from in 3..13 {
        for _ in 0..14 {
            rest.push(stalled_body(&server, from).await);
        }
    }
    assert_eq!(
        throttled(&mut rest, 21),
        21,
        "the whole budget is 135 bodies"
    );
    let (status, reply) = large(13).await;
    assert_eq!(
        (status, &reply["__type"]),
        (400, &serde_json::json!("ThrottlingException"))
    );
    kms.list_keys().send().await.unwrap();
    drop(first);
    drop(rest);
}

/// A key policy cannot make the requests it reads expensive, nor be dodged: an encryption
/// context a ciphertext is made with is at most 8,192 bytes of keys and values and has no two
/// keys equal but for case (ValidationException), one Decrypt reads at most 64 KB, and a
/// condition pattern that nearly matches a context everywhere (`*a?a?…b`
/// against `aaaa…`, quadratic for backtracking) is decided exactly. An adversarial probe made
/// such a request take seconds of CPU and stall every other client.
#[tokio::test]
async fn an_encryption_context_is_bounded_and_a_pathological_condition_is_decided() {
    use aws_sdk_kms::primitives::Blob;
    let (_server, kms) = common::start();
    let pattern = format!("*{}b", "a?".repeat(4_000));
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", common::ACCOUNT)},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringLike": {"kms:EncryptionContext:x": pattern}}}]});
    let key = kms
        .create_key()
        .policy(policy.to_string())
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let encrypt = |context: Vec<(&str, String)>| {
        context
            .into_iter()
            .fold(
                kms.encrypt()
                    .key_id(&key)
                    .plaintext(Blob::new(b"x".to_vec())),
                |r, (k, v)| r.encryption_context(k, v),
            )
            .send()
    };
    let code = |r: Result<_, _>| common::code(&r.unwrap_err());
    // 8,191 bytes with the key: within the limit, and the Deny does not match...
    encrypt(vec![("x", "a".repeat(8_190))]).await.unwrap();
    // ...until the value ends in b.
    let ends_in_b = encrypt(vec![("x", format!("{}b", "a".repeat(8_189)))]).await;
    assert_eq!(code(ends_in_b), "AccessDeniedException");
    let too_long = encrypt(vec![("x", "a".repeat(8_192))]).await;
    assert_eq!(code(too_long), "ValidationException");
    let e = kms
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .encryption_context("y", "z".repeat(9_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "ValidationException");
    // Keys that differ only in case: a condition on one of them could not read both.
    let case = encrypt(vec![("App", "billing".into()), ("app", "hr".into())]).await;
    assert_eq!(code(case), "ValidationException");
    // Decrypt reads ciphertexts made before those rules: a context of more than 8 KB, or with
    // such keys, is still read (here it opens nothing), one of more than 64 KB is not.
    let blob = encrypt(vec![]).await.unwrap().ciphertext_blob.unwrap();
    let decrypt = |context: Vec<(&str, String)>| {
        let request = context
            .into_iter()
            .fold(kms.decrypt().ciphertext_blob(blob.clone()), |r, (k, v)| {
                r.encryption_context(k, v)
            });
        async move { common::code(&request.send().await.unwrap_err()) }
    };
    assert_eq!(
        decrypt(vec![("x", "a".repeat(9_000))]).await,
        "InvalidCiphertextException"
    );
    assert_eq!(
        decrypt(vec![("App", "b".into()), ("app", "c".into())]).await,
        "InvalidCiphertextException"
    );
    assert_eq!(
        decrypt(vec![("x", "a".repeat(66_000))]).await,
        "ValidationException"
    );
}

/// A body that cannot be read (malformed chunked framing, or a connection half-closed before
/// the declared length) is a malformed request (400), not an oversized one (413), in both
/// dialects.
#[test]
fn an_unreadable_body_is_malformed_not_too_large() {
    let server = Server::start();
    let host = authority(&server);
    let exchange = |request: String, half_close: bool| {
        let mut stream = TcpStream::connect(&host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        if half_close {
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
        read_response(&mut stream)
    };
    let aws = format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\nx-amz-target: TrentService.ListKeys\r\ncontent-type: application/x-amz-json-1.1\r\nconnection: close\r\n"
    );
    let chunked = "transfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
    let (status, reply) = exchange(format!("{aws}{chunked}"), false);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["__type"], "MalformedHttpRequestException", "{reply}");
    let (status, reply) = exchange(format!("{aws}content-length: 1000\r\n\r\n{{}}"), true);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["__type"], "MalformedHttpRequestException", "{reply}");
    let aliyun = format!(
        "POST /?Action=ListKeys HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n{chunked}"
    );
    let (status, reply) = exchange(aliyun, false);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["Code"], "InvalidParameter", "{reply}");
    assert!(
        reply["Message"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{reply}"
    );
}

// ---- 2, 3. wrong root keys, a second process --------------------------------------------------

/// Runs `trent serve` on `data_dir` expecting it to refuse to start; returns its stderr.
fn refused_start(data_dir: &std::path::Path, root_key: Option<&str>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_trent"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("TRENT_ROOT_KEY")
        .env_remove("TRENT_CONFIG")
        .env("TRENT_LOG", "info");
    if let Some(key) = root_key {
        command.env("TRENT_ROOT_KEY", key);
    }
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run trent");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "started: {stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening"),
        "{stderr}"
    );
    stderr
}

#[tokio::test]
async fn wrong_root_keys_are_refused_at_startup() {
    let mut server = Server::start();
    let kms = server.client();
    common::symmetric_key(&kms).await;
    server.kill9();
    let dir = server.data_dir().to_owned();
    let err = refused_start(&dir, Some(&"cd".repeat(32)));
    assert!(err.contains("does not open this store"), "{err}");
    let key_file = dir.join("root.key");
    let original = std::fs::read(&key_file).unwrap();
    std::fs::write(&key_file, "0".repeat(63)).unwrap();
    let err = refused_start(&dir, None);
    assert!(err.contains("is corrupted"), "{err}");
    std::fs::remove_file(&key_file).unwrap();
    let err = refused_start(&dir, None);
    assert!(err.contains("is missing"), "{err}");
    assert!(
        !key_file.exists(),
        "no new root key for a store that has keys"
    );
    // The right key still opens everything.
    std::fs::write(&key_file, original).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    server.spawn();
    let keys = server.client().list_keys().send().await.unwrap();
    assert_eq!(keys.keys().len(), 1);
}

#[tokio::test]
async fn a_second_process_on_one_data_directory_is_refused() {
    let (server, kms) = common::start();
    common::symmetric_key(&kms).await;
    let err = refused_start(server.data_dir(), None);
    assert!(err.contains("in use by another trent process"), "{err}");
    // The first one is unaffected.
    assert_eq!(kms.list_keys().send().await.unwrap().keys().len(), 1);
}

// ---- 6. private files ---------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    // The test process's umask (typically 022) is inherited by the server.
    let (server, kms) = common::start();
    common::symmetric_key(&kms).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(server.data_dir()), 0o700);
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

// ---- 4. concurrent writers on one key -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_key_neither_fail_nor_lose_updates() {
    let (server, kms) = common::start();
    let key = common::symmetric_key(&kms).await;
    let other = common::symmetric_key(&kms).await;
    common::create_alias(&kms, "alias/hot", &key).await;
    const WRITERS: usize = 16;
    const ROUNDS: usize = 12;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let kms = server.client();
        let (key, other) = (key.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for r in 0..ROUNDS {
                let tag = aws_sdk_kms::types::Tag::builder()
                    .tag_key(format!("w{w}"))
                    .tag_value(format!("r{r}"))
                    .build()
                    .unwrap();
                if let Err(e) = kms.tag_resource().key_id(&key).tags(tag).send().await {
                    failures.push(format!("TagResource: {e:?}"));
                }
                let described = kms
                    .update_key_description()
                    .key_id(&key)
                    .description(format!("w{w}-r{r}"))
                    .send()
                    .await;
                if let Err(e) = described {
                    failures.push(format!("UpdateKeyDescription: {e:?}"));
                }
                let target = if r % 2 == 0 { &other } else { &key };
                let moved = kms
                    .update_alias()
                    .alias_name("alias/hot")
                    .target_key_id(target)
                    .send()
                    .await;
                if let Err(e) = moved {
                    failures.push(format!("UpdateAlias: {e:?}"));
                }
            }
            failures
        }));
    }
    for task in tasks {
        let failures = task.await.unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
    }
    // Every writer's last tag value is there: no update was lost.
    let tags = kms.list_resource_tags().key_id(&key).send().await.unwrap();
    assert_eq!(tags.tags().len(), WRITERS);
    for tag in tags.tags() {
        assert_eq!(tag.tag_value(), format!("r{}", ROUNDS - 1), "{tag:?}");
    }
}

// ---- 5. slow, stalled and idle clients ----------------------------------------------------------

/// Whether the server closes `stream` (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn silent_and_stalled_clients_are_disconnected() {
    let server = Server::start_with(&["--header-read-timeout-secs", "1"]);
    let host = authority(&server);
    let mut silent = TcpStream::connect(&host).unwrap();
    let mut stalled = TcpStream::connect(&host).unwrap();
    stalled
        .write_all(format!("POST / HTTP/1.1\r\nhost: {host}\r\nx-amz-tar").as_bytes())
        .unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(5)));
    assert!(closed_within(&mut stalled, Duration::from_secs(5)));
    assert!(started.elapsed() < Duration::from_secs(5));
    // An idle keep-alive connection goes the same way after its response.
    let mut idle = TcpStream::connect(&host).unwrap();
    idle.write_all(format!("GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(5)));
}

#[test]
fn shutdown_is_bounded_whatever_clients_do() {
    let mut server = Server::start_with(&["--shutdown-grace-secs", "1"]);
    let host = authority(&server);
    // Stalled mid-header, with a header-read timeout (20 s) far beyond the grace period.
    let mut stalled = TcpStream::connect(&host).unwrap();
    stalled
        .write_all(format!("POST / HTTP/1.1\r\nhost: {host}\r\nx-amz-tar").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert!(server.terminate(), "trent did not exit cleanly on SIGTERM");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn many_idle_connections_do_not_lock_out_health() {
    let server = Server::start_with(&["--max-connections", "8", "--header-read-timeout-secs", "1"]);
    let host = authority(&server);
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&host).unwrap())
        .collect();
    health_answers_within(&server, Duration::from_secs(10)).await;
    drop(idle);
}

/// `/health` answers 200 within `within` (the client waits half as long again).
async fn health_answers_within(server: &Server, within: Duration) {
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("{}/health", server.url))
        .timeout(within * 3 / 2)
        .send()
        .await
        .expect("/health answers");
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < within, "{:?}", started.elapsed());
}

/// Clients that ask for responses and never read them (a closed window) do not hold their
/// connections, and so the connection cap, for ever: a write that makes no progress for the
/// header-read timeout closes the connection.
#[tokio::test]
async fn clients_that_never_read_their_responses_are_disconnected() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start_with(&["--max-connections", "2", "--header-read-timeout-secs", "1"]);
    let host = authority(&server);
    let mut readers = Vec::new();
    for _ in 0..2 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
        // Hundreds of pipelined requests for a 21 KB asset: megabytes of answers, more than
        // the kernel's buffers hold.
        let request = format!("GET /console/app.js HTTP/1.1\r\nhost: {host}\r\n\r\n");
        stream
            .write_all(request.repeat(300).as_bytes())
            .await
            .unwrap();
        readers.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Once the stalled connections are dropped.
    health_answers_within(&server, Duration::from_secs(5)).await;
    drop(readers);
}

// ---- 6. ARNs of another partition ---------------------------------------------------------------

#[tokio::test]
async fn an_arn_of_another_partition_names_no_key_here() {
    let (_server, kms) = common::start();
    let key = common::symmetric_key(&kms).await;
    let arn = common::metadata(&kms, &key).await.arn().unwrap().to_owned();
    let foreign = arn.replacen("arn:aws:", "arn:aws-cn:", 1);
    assert_code!(
        kms.describe_key().key_id(&foreign).send().await,
        "NotFoundException"
    );
    assert_code!(
        kms.encrypt()
            .key_id(&foreign)
            .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
            .send()
            .await,
        "NotFoundException"
    );
}
