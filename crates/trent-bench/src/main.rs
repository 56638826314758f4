//! `trent-bench`: a closed-loop load generator for KMS servers.
//!
//! Each connection sends one SigV4-signed request, waits for the answer, and sends the next
//! (HTTP/1.1 keep-alive). Requests are signed once per connection and replayed: the server still
//! verifies every signature (SigV4 has no nonce), while the generator spends its CPU on sending
//! rather than on HMACs. The generator runs on ONE thread, like `wrk -t1`, so on a 2-core machine
//! the server under test gets the other core and then some; every server measured in a run is
//! measured the same way, so their ratios are fair.
//!
//! Any non-2xx answer is counted as a failure; a figure with failures is marked invalid.
//!
//! Subcommands: `suite` (the whole comparison, writing docs/BENCHMARKS.md), `trivial` (the
//! reference HTTP server: answers every POST with `{}`), `load` (one measurement against a URL),
//! `engine` (the engine's read path on many threads in process, no HTTP: see [`engine`]).

mod engine;
mod http;
mod pg;
mod suite;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::{Parser, Subcommand};
use trent_aws::sigv4::{self, Credential, SignedRequest};
use trent_crypto::SecretBytes;

#[derive(Debug, Parser)]
#[command(
    name = "trent-bench",
    about = "Load generator for Trent and reference servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the full comparison and write the report.
    Suite(suite::SuiteArgs),
    /// Serve the trivial reference: every POST answered with `{}`.
    Trivial {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// One measurement of one operation against a running server.
    Load {
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "Encrypt")]
        op: String,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// The engine's read path (SigV4 + dialect + engine, no HTTP) on N threads in process.
    Engine(engine::EngineArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Suite(args) => suite::run(args),
        Command::Trivial { listen } => trivial(&listen),
        Command::Engine(args) => engine::run(args),
        Command::Load {
            url,
            op,
            connections,
            seconds,
        } => runtime().and_then(|rt| {
            rt.block_on(async {
                let target = Target::for_op(&url, &op)?;
                let op = target.prepare(&op).await?;
                let m =
                    measure(&target, &op, connections, Duration::from_secs_f64(seconds)).await?;
                println!("{}", m.summary());
                if m.failures > 0 {
                    return Err(format!("{} requests failed", m.failures));
                }
                Ok(())
            })
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trent-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// The trivial reference server: the same HTTP stack as Trent (axum on tokio), no work.
fn trivial(listen: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "listening on http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(|| async {
                ([("content-type", "application/x-amz-json-1.1")], "{}")
            }),
        );
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}

/// A server to load, with the development credential (the root of 000000000000) or, for the
/// access-control figures, the IAM user of [`suite::BENCH_CONFIG`].
#[derive(Debug)]
pub struct Target {
    pub url: String,
    host: String,
    access_key_id: &'static str,
    secret: &'static str,
}

/// Loads signed by the IAM user `bench` rather than the account root: Encrypt allowed through
/// the default key policy and the user's identity policy, and Encrypt allowed by one of ten
/// conditional statements of a key policy.
pub const USER_OPS: &[&str] = &["EncryptAsUser", "EncryptConditional"];

/// A prepared operation: the target header and the JSON body.
#[derive(Debug)]
pub struct Prepared {
    pub name: String,
    target: String,
    /// The SigV4 service name (`kms`, or `cloudtrail` for LookupEvents).
    service: &'static str,
    body: Vec<u8>,
}

impl Target {
    pub fn new(url: &str) -> Result<Self, String> {
        let host = url
            .strip_prefix("http://")
            .ok_or("only http:// URLs")?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            url: url.to_owned(),
            host,
            access_key_id: "test",
            secret: "test",
        })
    }

    /// The target that signs the load of `op` (the IAM user for [`USER_OPS`]).
    pub fn for_op(url: &str, op: &str) -> Result<Self, String> {
        let mut target = Self::new(url)?;
        if USER_OPS.contains(&op) {
            (target.access_key_id, target.secret) =
                (suite::BENCH_USER_KEY, suite::BENCH_USER_SECRET);
        }
        Ok(target)
    }

    /// The full HTTP/1.1 request for `op`, signed now.
    fn signed_request(&self, op: &Prepared) -> Vec<u8> {
        let cred = Credential {
            access_key_id: self.access_key_id.into(),
            secret_access_key: SecretBytes::new(self.secret.as_bytes().to_vec()),
            account_id: "000000000000".into(),
            session_token: None,
        };
        let mut out = "POST / HTTP/1.1\r\n".to_owned();
        for (k, v) in signed_headers(&self.host, &cred, op) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&op.body);
        bytes
    }

    /// The value of one counter of the server's /metrics (on the KMS port).
    pub async fn metric(&self, name: &str) -> Result<f64, String> {
        let mut conn = http::Conn::open(&self.host).await?;
        let request = format!("GET /metrics HTTP/1.1\r\nhost: {}\r\n\r\n", self.host);
        let (status, body) = conn.send(request.as_bytes()).await?;
        if status != 200 {
            return Err(format!("/metrics answered {status}"));
        }
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .ok_or_else(|| format!("/metrics has no {name}"))
    }

    /// Sends one request and parses the JSON answer (used for setup).
    pub async fn call(
        &self,
        op: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let p = Prepared::new(op, body);
        let mut conn = http::Conn::open(&self.host).await?;
        let (status, body) = conn.send(&self.signed_request(&p)).await?;
        let json: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        if !(200..300).contains(&status) {
            return Err(format!("{op} answered {status}: {json}"));
        }
        Ok(json)
    }

    /// Creates what an operation needs (a key, a ciphertext) and returns it ready to send.
    pub async fn prepare(&self, op: &str) -> Result<Prepared, String> {
        let plaintext = B64.encode([0x5au8; 256]);
        let new_key =
            |spec: &str, usage: &str| serde_json::json!({"KeySpec": spec, "KeyUsage": usage});
        let key_of = |v: &serde_json::Value| {
            v["KeyMetadata"]["KeyId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let body = match op {
            "CreateKey" => serde_json::json!({}),
            "Encrypt" | "Decrypt" | "GenerateDataKey" | "DescribeKey" => {
                let key = key_of(
                    &self
                        .call("CreateKey", new_key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"))
                        .await?,
                );
                match op {
                    "Encrypt" => serde_json::json!({"KeyId": key, "Plaintext": plaintext}),
                    "Decrypt" => {
                        let enc = self
                            .call(
                                "Encrypt",
                                serde_json::json!({"KeyId": key, "Plaintext": plaintext}),
                            )
                            .await?;
                        serde_json::json!({"CiphertextBlob": enc["CiphertextBlob"]})
                    }
                    "GenerateDataKey" => serde_json::json!({"KeyId": key, "KeySpec": "AES_256"}),
                    _ => serde_json::json!({"KeyId": key}),
                }
            }
            "Sign" => {
                let key = key_of(
                    &self
                        .call("CreateKey", new_key("ECC_NIST_P256", "SIGN_VERIFY"))
                        .await?,
                );
                sign_body(&key)
            }
            "EncryptAsUser" | "EncryptConditional" => {
                // Set up as the root; the load is signed by the user.
                let root = Target::new(&self.url)?;
                let key = key_of(
                    &root
                        .call("CreateKey", new_key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"))
                        .await?,
                );
                if op == "EncryptConditional" {
                    root.call(
                        "PutKeyPolicy",
                        serde_json::json!({"KeyId": key, "PolicyName": "default", "Policy": suite::conditional_policy()}),
                    )
                    .await?;
                }
                let body = serde_json::json!({"KeyId": key, "Plaintext": plaintext});
                return Ok(Prepared {
                    name: op.to_owned(),
                    target: "TrentService.Encrypt".to_owned(),
                    service: "kms",
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                });
            }
            "LookupEvents" => {
                // The records of the server's first key (the one the Encrypt load used, so
                // the one with the most records), newest first, one page.
                let keys = self
                    .call("ListKeys", serde_json::json!({"Limit": 1}))
                    .await?;
                let arn = keys["Keys"][0]["KeyArn"]
                    .as_str()
                    .ok_or("LookupEvents: the server has no key")?;
                return Ok(Prepared::lookup_events(arn));
            }
            // For the trivial server: an Encrypt-sized request.
            "Trivial" => {
                serde_json::json!({"KeyId": "00000000-0000-0000-0000-000000000000", "Plaintext": plaintext})
            }
            other => return Err(format!("no load defined for {other}")),
        };
        Ok(Prepared::new(op, body))
    }
}

/// The headers of `op` sent to `host`, signed now by `cred` (valid for the 5-minute skew
/// window): `authorization` and `content-length` last.
pub fn signed_headers(host: &str, cred: &Credential, op: &Prepared) -> Vec<(&'static str, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let date = sigv4::format_amz_date(now);
    let mut headers = vec![
        ("content-type", trent_aws::CONTENT_TYPE.to_owned()),
        ("host", host.to_owned()),
        ("x-amz-date", date.clone()),
        ("x-amz-target", op.target.clone()),
    ];
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &pairs,
        body: &op.body,
    };
    let auth = sigv4::sign(&req, cred, "us-east-1", op.service, &date);
    headers.push(("content-length", op.body.len().to_string()));
    headers.push(("authorization", auth));
    headers
}

/// The Sign load's request: a 32-byte RAW message, ECDSA with SHA-256.
pub fn sign_body(key_id: &str) -> serde_json::Value {
    serde_json::json!({"KeyId": key_id, "Message": B64.encode([7u8; 32]), "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"})
}

impl Prepared {
    /// LookupEvents for the newest page (50) of the records naming `key_arn`.
    pub fn lookup_events(key_arn: &str) -> Self {
        let body = serde_json::json!({
            "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": key_arn}],
            "MaxResults": 50
        });
        Self {
            name: "LookupEvents".to_owned(),
            target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
                .to_owned(),
            service: "cloudtrail",
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }

    /// The `KeyId` member of the request, if it has one.
    pub fn key_id(&self) -> Option<String> {
        let body: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        body["KeyId"].as_str().map(str::to_owned)
    }

    pub fn new(op: &str, body: serde_json::Value) -> Self {
        Self {
            name: op.to_owned(),
            target: format!("TrentService.{op}"),
            service: "kms",
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub op: String,
    pub connections: usize,
    pub requests: u64,
    pub failures: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub first_failure: Option<String>,
}

impl Measurement {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    pub fn summary(&self) -> String {
        format!(
            "{:<16} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {} failed)",
            self.op,
            self.rps(),
            self.p50_ms,
            self.p99_ms,
            self.requests,
            self.failures
        )
    }
}

/// Runs `connections` closed loops for `duration` (after a short warm-up).
pub async fn measure(
    target: &Target,
    op: &Prepared,
    connections: usize,
    duration: Duration,
) -> Result<Measurement, String> {
    measure_split(&[target], op, connections, duration).await
}

/// Like [`measure`], with the connections split evenly across `targets` (several nodes of
/// one service behind no balancer).
pub async fn measure_split(
    targets: &[&Target],
    op: &Prepared,
    connections: usize,
    duration: Duration,
) -> Result<Measurement, String> {
    let requests: Vec<_> = targets
        .iter()
        .map(|t| (std::rc::Rc::new(t.signed_request(op)), t.host.clone()))
        .collect();
    let warmup = Duration::from_millis(500).min(duration / 4);
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + duration;
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for i in 0..connections {
        let (request, host) = requests[i % requests.len()].clone();
        handles.push(local.spawn_local(async move {
            let mut latencies_us: Vec<u32> = Vec::with_capacity(65536);
            let mut failures = 0u64;
            let mut first_failure = None;
            let mut conn = http::Conn::open(&host).await?;
            loop {
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                let (status, body) = conn.send(&request).await?;
                let done = Instant::now();
                if sent >= measure_from {
                    latencies_us.push((done - sent).as_micros().min(u128::from(u32::MAX)) as u32);
                    if !(200..300).contains(&status) {
                        failures += 1;
                        if first_failure.is_none() {
                            first_failure =
                                Some(format!("{status}: {}", String::from_utf8_lossy(&body)));
                        }
                    }
                }
            }
            Ok::<_, String>((latencies_us, failures, first_failure))
        }));
    }
    let results = local
        .run_until(async {
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.map_err(|e| e.to_string())??);
            }
            Ok::<_, String>(out)
        })
        .await?;
    let mut all: Vec<u32> = Vec::new();
    let mut failures = 0;
    let mut first_failure = None;
    for (lat, f, ff) in results {
        all.extend(lat);
        failures += f;
        first_failure = first_failure.or(ff);
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        f64::from(all[i]) / 1000.0
    };
    Ok(Measurement {
        op: op.name.clone(),
        connections,
        requests: all.len() as u64,
        failures,
        seconds: duration.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        first_failure,
    })
}
