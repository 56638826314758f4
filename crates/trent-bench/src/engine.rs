//! `trent-bench engine`: the engine's read path on many threads in one process, to find
//! contention on shared structures (locks, shared atomic counters, shared reference counts)
//! without a many-core machine or an HTTP stack in the way.
//!
//! Each iteration is what the server does per request, minus HTTP: verify the SigV4 signature
//! with the server's verifier, name the operation from `X-Amz-Target`, build the caller, and run
//! the AWS dialect (JSON decode, engine, JSON encode). The request is signed once and replayed,
//! as the load generator does. N OS threads share one [`Kms`] over an in-memory SQLite store.
//! Any error aborts the run.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use trent_aws::sigv4::{self, Credential, CredentialStore, SignedRequest, Verifier};
use trent_aws::{Ctx, Operation};
use trent_core::clock::SystemClock;
use trent_core::engine::{Caller, Kms};
use trent_core::state::Dialect;
use trent_core::{Identity, Scope};
use trent_crypto::{AeadKey, SecretBytes, AES_256_KEY_LEN};

#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Thread counts, comma-separated (default: 1, 2, and the machine's core count if larger).
    /// 1 is always measured: it is the base of the scaling figure.
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Seconds per figure (after a short warm-up).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Operations, comma-separated: Encrypt, DescribeKey, Sign.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "Encrypt,DescribeKey,Sign"
    )]
    op: Vec<String>,
}

const ACCOUNT: &str = "000000000000";
const HOST: &str = "127.0.0.1:4000";

/// The development credential (`test`/`test`, the root of [`ACCOUNT`]), as the server has it.
#[derive(Debug)]
struct DevCredential(Credential);

impl CredentialStore for DevCredential {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        (access_key_id == self.0.access_key_id).then_some(&self.0)
    }
}

/// What every thread shares, as the server's state does.
#[derive(Debug)]
struct Fixture {
    kms: Kms,
    verifier: Verifier,
    credential: DevCredential,
    identity: Arc<Identity>,
}

/// A signed request, ready to replay: its headers (with `authorization`) and its body.
#[derive(Debug)]
struct Request {
    name: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

pub fn run(args: EngineArgs) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = if args.threads.is_empty() {
        vec![1, 2, cores]
    } else {
        args.threads.clone()
    };
    threads.push(1);
    threads.retain(|&n| n > 0);
    threads.sort_unstable();
    threads.dedup();
    let duration = Duration::from_secs_f64(args.seconds);

    let fixture = Fixture::new()?;
    let mut rows = Vec::new();
    for op in &args.op {
        let request = fixture.prepare(op)?;
        // One request before timing: a wrong setup fails here, not N times over.
        fixture.serve(&request)?;
        let mut base = 0.0;
        for &n in &threads {
            let rate = fixture.measure(&request, n, duration)?;
            if n == 1 {
                base = rate;
            }
            let scaling = rate / (n.min(cores) as f64 * base);
            eprintln!("  {op:<12} {n:>3} threads {rate:>10.0} ops/s  scaling {scaling:.2}");
            rows.push((op.clone(), n, rate, scaling));
        }
    }

    let command: Vec<String> = std::env::args().collect();
    println!("## Engine read path across threads (in process)\n");
    println!(
        "SigV4 verification of a signed request (signed once, replayed), the AWS dialect's JSON \
         decode, the engine and the JSON encode, with no HTTP: what the server does per request \
         past the socket. N OS threads share one `Kms` over an in-memory SQLite store, {} s \
         per figure after a warm-up; Encrypt of 64 bytes with a symmetric key, DescribeKey of \
         it, Sign of a 32-byte RAW message with an ECC_NIST_P256 key. Machine: {}; this process \
         may use {cores}. Scaling is ops/s at N threads ÷ (min(N, {cores}) × ops/s at 1 thread): \
         near 1 the path scales, well below 1 with N ≤ {cores} a shared structure is contended. \
         Produced by `{}`.\n",
        args.seconds,
        crate::suite::machine(),
        command.join(" ")
    );
    println!("| operation | threads | ops/s | per thread | scaling |");
    println!("|---|---|---|---|---|");
    for (op, n, rate, scaling) in rows {
        let note = if n > cores {
            " (more threads than cores: shows there is no collapse, not scaling)"
        } else {
            ""
        };
        println!(
            "| {op} | {n} | {rate:.0} | {:.0} | {scaling:.2}{note} |",
            rate / n as f64
        );
    }
    Ok(())
}

impl Fixture {
    fn new() -> Result<Self, String> {
        let store = trent_store::SqliteStore::open_in_memory().map_err(|e| e.to_string())?;
        let root = SecretBytes::random(AES_256_KEY_LEN).map_err(|e| e.to_string())?;
        let root = AeadKey::new(&root).map_err(|e| e.to_string())?;
        Ok(Self {
            kms: Kms::new(Arc::new(store), root, Arc::new(SystemClock)),
            verifier: trent_aws::verifier(),
            credential: DevCredential(Credential {
                access_key_id: "test".into(),
                secret_access_key: SecretBytes::new(b"test".to_vec()),
                account_id: ACCOUNT.into(),
                session_token: None,
            }),
            identity: Arc::new(Identity::root(ACCOUNT)),
        })
    }

    /// The caller of a request signed by the development credential, as the server builds it.
    fn caller(&self, verified: sigv4::Verified) -> Caller {
        Caller {
            scope: Scope::new(verified.account_id, verified.region),
            access_key_id: verified.access_key_id,
            identity: Arc::clone(&self.identity),
            dialect: Dialect::Aws,
            connection: Default::default(),
            audit: None,
        }
    }

    /// Runs `op` directly as the root (for setup), returning the JSON answer.
    fn call(&self, op: Operation, body: serde_json::Value) -> Result<serde_json::Value, String> {
        let caller = self.caller(sigv4::Verified {
            access_key_id: "test".into(),
            account_id: ACCOUNT.into(),
            region: "us-east-1".into(),
            service: trent_aws::SIGNING_SERVICE.into(),
        });
        let ctx = Ctx {
            kms: &self.kms,
            caller: &caller,
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let out = trent_aws::dispatch(op, &ctx, &body)
            .map_err(|e| format!("{}: {}: {}", op.name(), e.code, e.message))?;
        serde_json::from_slice(&out).map_err(|e| e.to_string())
    }

    /// Creates the key `op` needs and signs the request (valid for the 5-minute skew window).
    fn prepare(&self, op: &str) -> Result<Request, String> {
        let key_of = |v: serde_json::Value| -> Result<String, String> {
            v["KeyMetadata"]["KeyId"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("CreateKey answered without a KeyId: {v}"))
        };
        let body = match op {
            "Encrypt" | "DescribeKey" => {
                let key = key_of(self.call(Operation::CreateKey, serde_json::json!({}))?)?;
                if op == "Encrypt" {
                    serde_json::json!({"KeyId": key, "Plaintext": B64.encode([0x5au8; 64])})
                } else {
                    serde_json::json!({"KeyId": key})
                }
            }
            "Sign" => {
                let key = key_of(self.call(
                    Operation::CreateKey,
                    serde_json::json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
                )?)?;
                crate::sign_body(&key)
            }
            other => return Err(format!("no engine load defined for {other}")),
        };
        let prepared = crate::Prepared::new(op, body);
        Ok(Request {
            name: op.to_owned(),
            headers: crate::signed_headers(HOST, &self.credential.0, &prepared),
            body: prepared.body,
        })
    }

    /// One request, as the server serves it past the socket: verify, name the operation, run.
    fn serve(&self, request: &Request) -> Result<Vec<u8>, String> {
        let fail = |e: String| format!("{}: {e}", request.name);
        let pairs: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let signed = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &pairs,
            body: &request.body,
        };
        let verified = self
            .verifier
            .verify(
                &signed,
                &self.credential,
                trent_aws::SIGNING_SERVICE,
                SystemTime::now(),
            )
            .map_err(|e| fail(e.to_string()))?;
        let target = pairs
            .iter()
            .find(|(k, _)| *k == "x-amz-target")
            .map(|(_, v)| *v);
        let op = trent_aws::operation(target).map_err(|e| fail(e.message))?;
        let caller = self.caller(verified);
        let ctx = Ctx {
            kms: &self.kms,
            caller: &caller,
        };
        trent_aws::dispatch(op, &ctx, &request.body)
            .map_err(|e| fail(format!("{}: {}", e.code, e.message)))
    }

    /// Ops/s of `threads` OS threads serving `request` in closed loops for `duration`.
    fn measure(
        &self,
        request: &Request,
        threads: usize,
        duration: Duration,
    ) -> Result<f64, String> {
        let warmup = Duration::from_millis(250).min(duration / 4);
        let start = Instant::now();
        let (measure_from, deadline) = (start + warmup, start + warmup + duration);
        let counts = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(move || -> Result<u64, String> {
                        let mut done = 0u64;
                        loop {
                            let now = Instant::now();
                            if now >= deadline {
                                return Ok(done);
                            }
                            self.serve(request)?;
                            if now >= measure_from {
                                done += 1;
                            }
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "a thread panicked".to_owned())?)
                .collect::<Result<Vec<u64>, String>>()
        })?;
        Ok(counts.iter().sum::<u64>() as f64 / duration.as_secs_f64())
    }
}
